"""Bytes read from a STAC catalogue at full tile scale: how much of the band files ``plantsovertime`` fetches.

Usage: ``python3 bench/stac_bytes.py DATA_DIR [--work DIR] [--dates N] [--priors N] [--block PX]``, DATA_DIR being the shared
``data`` folder.

* Tile: the 10980 × 10980 px scene of ``bench/scale.py`` (real Virginia bands, tiled), written as one
  Cloud-Optimised GeoTIFF per band as Earth Search publishes them: uint16 with the BOA offset (DN + 1000), DEFLATE,
  ``--block`` px blocks (default 512), overviews; B02, B03, B04, B08 at 10 m, B11, B12 and SCL at 20 m. The SCL is made from the
  bands (vegetation where NDVI > 0.3, water where NIR reflectance < 0.05, else not vegetated).
* Items: N dates (default 4, one a quarter), each pointing at its own URLs of those files (links per date), in
  two conventions by turns: ``sentinel-2-c1-l2a`` (``raster:bands`` offset) and Earth Search ``sentinel-2-l2a`` at
  baseline 04.00 with ``earthsearch:boa_offset_applied`` false, whose offset the plugin checks on the pixels (an
  overview read).
* Served by nginx on 127.0.0.1; ``qgis_process run fusionpv:plantsovertime`` with PERIOD = Quarter and N real
  PV polygons (OSM Germany) as trusted priors (``bench/scale.py``'s placing); the plugin's "Fetched" line is
  printed with nginx's own count of requests and bytes sent.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal, osr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
sys.path.insert(0, HERE)
from local_servers import Nginx  # noqa: E402
from qgisprocess import QgisProcess  # noqa: E402
from scale import STACK_BANDS, TILE, build_scene, place_priors  # noqa: E402

gdal.UseExceptions()
BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B11", "B12")
EARTH_SEARCH_KEYS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16", "B12": "swir22",
                     "SCL": "scl"}
BOA_ADD = 1000


def write_cog(path, values, geotransform, projection, block):
    memory = gdal.GetDriverByName("MEM").Create("", values.shape[1], values.shape[0], 1, gdal.GDT_UInt16)
    memory.SetGeoTransform(geotransform)
    memory.SetProjection(projection)
    memory.GetRasterBand(1).WriteArray(values)
    memory.GetRasterBand(1).SetNoDataValue(0)
    gdal.Translate(path, memory, format="COG", creationOptions=["COMPRESS=DEFLATE", "BLOCKSIZE=%d" % block,
                                                                "NUM_THREADS=ALL_CPUS"])


def band_files(scene, folder, block):
    """Write the COGs of the scene's bands and SCL into ``folder`` (once), in ``block`` px blocks; returns
    {band: path}."""
    dataset = gdal.Open(scene)
    x0, _, _, y0, _, _ = dataset.GetGeoTransform()
    projection = dataset.GetProjection()
    paths = {band: os.path.join(folder, band + ".tif") for band in BANDS_10M + BANDS_20M + ("SCL",)}
    if all(os.path.exists(path) for path in paths.values()):
        return paths
    read = {band: dataset.GetRasterBand(STACK_BANDS.index(band) + 1) for band in BANDS_10M + BANDS_20M}
    for band in BANDS_10M:
        values = read[band].ReadAsArray().astype(np.int32)
        write_cog(paths[band], np.where(values > 0, values + BOA_ADD, 0).astype(np.uint16),
                  (x0, 10.0, 0.0, y0, 0.0, -10.0), projection, block)
    for band in BANDS_20M:
        values = read[band].ReadAsArray()[::2, ::2].astype(np.int32)
        write_cog(paths[band], np.where(values > 0, values + BOA_ADD, 0).astype(np.uint16),
                  (x0, 20.0, 0.0, y0, 0.0, -20.0), projection, block)
    red = read["B04"].ReadAsArray()[::2, ::2].astype(np.float32)
    nir = read["B08"].ReadAsArray()[::2, ::2].astype(np.float32)
    ndvi = (nir - red) / np.maximum(nir + red, 1)
    scl = np.where(nir < 500, 6, np.where(ndvi > 0.3, 4, 5)).astype(np.uint16)
    scl[(red <= 0) | (nir <= 0)] = 0
    write_cog(paths["SCL"], scl, (x0, 20.0, 0.0, y0, 0.0, -20.0), projection, block)
    return paths


def items(paths, scene, base_url, dates):
    """``dates`` items of the tile (one a quarter from 2022), each linking its own copy (a symbolic link) of the
    band files, in two offset conventions by turns."""
    dataset = gdal.Open(scene)
    x0, _, _, y0, _, _ = dataset.GetGeoTransform()
    epsg = int(osr.SpatialReference(wkt=dataset.GetProjection()).GetAuthorityCode(None))
    folder = os.path.dirname(paths["B02"])
    found = []
    for number in range(dates):
        day = datetime.date(2022 + number // 4, 3 * (number % 4) + 2, 15)
        links = os.path.join(folder, day.isoformat())
        os.makedirs(links, exist_ok=True)
        assets = {}
        for band, path in paths.items():
            link = os.path.join(links, band + ".tif")
            if not os.path.lexists(link):
                os.symlink(os.path.join(os.pardir, os.path.basename(path)), link)
            pixel = 10.0 if band in BANDS_10M else 20.0
            asset = {"href": "%s/%s/%s.tif" % (base_url, day.isoformat(), band), "type": "image/tiff",
                     "proj:epsg": epsg, "proj:shape": [TILE * 10 // int(pixel)] * 2,
                     "proj:transform": [pixel, 0.0, x0, 0.0, -pixel, y0]}
            if number % 2 == 0 and band != "SCL":
                asset["raster:bands"] = [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]
            assets[EARTH_SEARCH_KEYS[band]] = asset
        properties = {"datetime": day.isoformat() + "T10:00:00Z", "eo:cloud_cover": 10.0, "platform": "sentinel-2a",
                      "s2:mgrs_tile": "BENCH", "s2:processing_baseline": "05.09" if number % 2 == 0 else "04.00"}
        if number % 2:
            properties["earthsearch:boa_offset_applied"] = False
        found.append({"type": "Feature", "stac_version": "1.0.0", "id": "S2A_BENCH_%s_L2A" % day.strftime("%Y%m%d"),
                      "collection": "sentinel-2-c1-l2a" if number % 2 == 0 else "sentinel-2-l2a",
                      "geometry": None, "properties": properties, "links": [], "assets": assets})
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the shared data folder (holding s2_scenes/ and pv_polygons/)")
    parser.add_argument("--work", help="folder for the tile, COGs and outputs (default: a temporary one)")
    parser.add_argument("--dates", type=int, default=4)
    parser.add_argument("--priors", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--block", type=int, default=512, help="COG block size (px; GDAL's COG default 512)")
    arguments = parser.parse_args()
    work = arguments.work or tempfile.mkdtemp(prefix="fusionpv-stac-bench-")
    os.makedirs(work, exist_ok=True)
    scene = os.path.join(work, "tile_full.tif")
    if not os.path.exists(scene):
        print("building the %d² scene in %s" % (TILE, scene), flush=True)
        build_scene(arguments.data, scene, TILE)
    cogs = os.path.join(work, "cogs_%d" % arguments.block)
    os.makedirs(cogs, exist_ok=True)
    paths = band_files(scene, cogs, arguments.block)
    whole = sum(os.path.getsize(path) for path in paths.values())
    priors = os.path.join(work, "stac_priors_%d.gpkg" % arguments.priors)
    if not os.path.exists(priors):
        place_priors(arguments.data, scene, priors, arguments.priors, 4326, arguments.seed)
    server = Nginx(cogs, os.path.join(work, "nginx"))
    try:
        collection = os.path.join(work, "items.json")
        with open(collection, "w", encoding="utf-8") as stream:
            json.dump({"type": "FeatureCollection",
                       "features": items(paths, scene, server.url, arguments.dates)}, stream)
        output = os.path.join(work, "stac_plants.gpkg")
        subprocess.run(["rm", "-rf", output, output[:-len(".gpkg")] + ".tiles"], check=True)
        qgis = QgisProcess()
        before = server.served()
        completed = subprocess.run([qgis.command, "run", "fusionpv:plantsovertime", "--", "INPUT=" + collection,
                                    "PERIOD=1", "TRUSTED_PRIORS=" + priors, "OUTPUT=" + output],
                                   capture_output=True, text=True, env=qgis.env)
        requests, sent = (after - first for after, first in zip(server.served(), before))
    finally:
        server.stop()
    log = completed.stdout + completed.stderr
    if completed.returncode != 0:
        sys.exit("qgis_process failed:\n" + log[-3000:])
    print("%d priors, %d px blocks; band files of one date: %.1f MB (%d files); %d dates: %.1f MB" % (
        arguments.priors, arguments.block, whole / 1e6, len(paths), arguments.dates, arguments.dates * whole / 1e6))
    for line in log.splitlines():
        if re.search(r"Fetched|BOA offset|Tile .* plant", line):
            print("log:", line.strip())
    print("nginx: %d request(s), %.2f MB sent = %.3f %% of the %d dates' band files" % (
        requests, sent / 1e6, 100.0 * sent / (arguments.dates * whole), arguments.dates))


if __name__ == "__main__":
    main()
