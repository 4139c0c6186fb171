"""Bytes read from a STAC catalogue at full tile scale: how much of the band files ``plantsovertime`` fetches.

Usage: ``python3 bench/stac_bytes.py DATA_DIR [--work DIR] [--dates N] [--priors N] [--block PX] [--size PX]
[--year [--baseline PLUGIN_DIR]]``, DATA_DIR being the shared ``data`` folder.

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
* ``--year``: a tile-year instead. An item for each of the 99 real 2022 dates of the Austrian chip with the most
  (``austria_pv/netcdf``), each with its own SCL: the tile cut into 4 × 7 cells, one real chip each, whose SCL at
  its date nearest the item's stands, stretched, over its cell wherever it is not clear (clouds, their shadows,
  snow, no data); the item's cloud cover is that of its SCL. Three runs, nginx counting requests, bytes and SCL
  bytes: the plugin at ``--baseline`` (a checkout from before ``OBSERVATIONS_PER_MONTH``, e.g. a ``git worktree``),
  this plugin with ``OBSERVATIONS_PER_MONTH=0`` and with its default; their plants are compared, and the plan the
  run logs is printed beside what it fetched.
"""
import argparse
import datetime
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

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
    return [item(number, datetime.date(2022 + number // 4, 3 * (number % 4) + 2, 15), paths, scene, base_url)
            for number in range(dates)]


def item(number, day, paths, scene, base_url, own=(), cloud_cover=10.0):
    """The item of date ``day``: links to the band files (``own``: the bands whose files this date has already
    written in its folder), the offset convention of turn ``number``."""
    dataset = gdal.Open(scene)
    x0, _, _, y0, _, _ = dataset.GetGeoTransform()
    size = dataset.RasterXSize
    epsg = int(osr.SpatialReference(wkt=dataset.GetProjection()).GetAuthorityCode(None))
    links = os.path.join(os.path.dirname(paths["B02"]), day.isoformat())
    os.makedirs(links, exist_ok=True)
    assets = {}
    for band, path in paths.items():
        link = os.path.join(links, band + ".tif")
        if band not in own and not os.path.lexists(link):
            os.symlink(os.path.join(os.pardir, os.path.basename(path)), link)
        pixel = 10.0 if band in BANDS_10M else 20.0
        asset = {"href": "%s/%s/%s.tif" % (base_url, day.isoformat(), band), "type": "image/tiff",
                 "proj:epsg": epsg, "proj:shape": [size * 10 // int(pixel)] * 2,
                 "proj:transform": [pixel, 0.0, x0, 0.0, -pixel, y0]}
        if number % 2 == 0 and band != "SCL":
            asset["raster:bands"] = [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]
        assets[EARTH_SEARCH_KEYS[band]] = asset
    properties = {"datetime": day.isoformat() + "T10:00:00Z", "eo:cloud_cover": cloud_cover,
                  "platform": "sentinel-2a", "s2:mgrs_tile": "BENCH",
                  "s2:processing_baseline": "05.09" if number % 2 == 0 else "04.00"}
    if number % 2:
        properties["earthsearch:boa_offset_applied"] = False
    return {"type": "Feature", "stac_version": "1.0.0", "id": "S2A_BENCH_%s_L2A" % day.strftime("%Y%m%d"),
            "collection": "sentinel-2-c1-l2a" if number % 2 == 0 else "sentinel-2-l2a",
            "geometry": None, "properties": properties, "links": [], "assets": assets}


def chip_scl(data):
    """The real 2022 SCL of the 28 Austrian chips: [(dates, SCL (t, h, w))], most dates first."""
    found = []
    for path in glob.glob(os.path.join(data, "austria_pv", "netcdf", "S2_2022_*.nc")):
        dataset = gdal.Open('NETCDF:"%s":SCL' % path)
        days = [datetime.date(1990, 1, 1) + datetime.timedelta(days=float(
            dataset.GetRasterBand(number).GetMetadataItem("NETCDF_DIM_t"))) for number in
            range(1, dataset.RasterCount + 1)]
        found.append((days, dataset.ReadAsArray()))
    return sorted(found, key=lambda chip: -len(chip[0]))


def year_scl(base, chips, day, cells=(4, 7)):
    """The tile's SCL on ``day``: cut into ``cells`` (rows, columns), one real chip each; where that chip's SCL at
    its date nearest ``day`` is clear (4, 5, 6) the tile keeps its own classes, elsewhere it takes the chip's
    (cloud, shadow, snow, no data), its pixels stretched over the cell."""
    scl = base.copy()
    height, width = base.shape
    for number, (days, values) in enumerate(chips[:cells[0] * cells[1]]):
        nearest = min(range(len(days)), key=lambda t: abs((days[t] - day).days))
        top, left = (number // cells[1]) * height // cells[0], (number % cells[1]) * width // cells[1]
        bottom, right = top + height // cells[0], left + width // cells[1]
        chip = values[nearest]
        rows = np.arange(bottom - top) * chip.shape[0] // (bottom - top)
        cols = np.arange(right - left) * chip.shape[1] // (right - left)
        stretched = chip[rows[:, None], cols[None, :]]
        cell = scl[top:bottom, left:right]
        scl[top:bottom, left:right] = np.where(np.isin(stretched, (4, 5, 6)), cell, stretched)
    return scl


def year_items(data, paths, scene, base_url, block):
    """An item for every date of the chip with the most real 2022 dates, each with its own SCL (:func:`year_scl`)
    and the scene cloud cover of that SCL, the other bands linked."""
    chips = chip_scl(data)
    base_dataset = gdal.Open(paths["SCL"])
    base = base_dataset.ReadAsArray()
    geotransform, projection = base_dataset.GetGeoTransform(), base_dataset.GetProjection()
    found = []
    for number, day in enumerate(chips[0][0]):
        folder = os.path.join(os.path.dirname(paths["B02"]), day.isoformat())
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "SCL.tif")
        scl = year_scl(base, chips, day)
        if not os.path.exists(path):
            write_cog(path, scl, geotransform, projection, block)
        cover = 100.0 * float(np.isin(scl, (3, 8, 9, 10)).mean())
        found.append(item(number, day, paths, scene, base_url, own=("SCL",), cloud_cover=round(cover, 2)))
    return found


def run_plants(qgis, server, collection, priors, output, extra=()):
    """qgis_process plantsovertime by quarter; (log, wall seconds, requests, MB sent, of them SCL MB)."""
    subprocess.run(["rm", "-rf", output, output[:-len(".gpkg")] + ".tiles"], check=True)
    first = len(server.requests())
    start = time.time()
    completed = subprocess.run([qgis.command, "run", "fusionpv:plantsovertime", "--", "INPUT=" + collection,
                                "PERIOD=1", "TRUSTED_PRIORS=" + priors, "OUTPUT=" + output] + list(extra),
                               capture_output=True, text=True, env=qgis.env)
    seconds = time.time() - start
    log = completed.stdout + completed.stderr
    if completed.returncode != 0:
        sys.exit("qgis_process failed:\n" + log[-3000:])
    requests = server.requests()[first:]
    sent = sum(size for _, _, _, size in requests)
    scl = sum(size for _, path, _, size in requests if path.endswith("/SCL.tif"))
    return log, seconds, len(requests), sent / 1e6, scl / 1e6


def plant_rows(path):
    """(presence, status, first_seen, built_after, built_before) of every plant, sorted."""
    dataset = gdal.OpenEx(path)
    layer = dataset.GetLayer(0)
    return sorted(tuple(str(feature.GetField(name)) for name in ("presence", "status", "first_seen", "built_after",
                                                                   "built_before")) for feature in layer)


def tile_year(arguments, paths, scene, priors, work):
    """The reader before ``OBSERVATIONS_PER_MONTH`` (the plugin in ``--baseline``, when given: the bands of every
    date with a clear pixel in a window), every date observing a prior (0) and the default, on a tile-year of real
    cloud patterns; prints a table and the 2019–2025 figure."""
    server = Nginx(os.path.dirname(paths["B02"]), os.path.join(work, "nginx"))
    try:
        collection = os.path.join(work, "year_items.json")
        found = year_items(arguments.data, paths, scene, server.url, arguments.block)
        with open(collection, "w", encoding="utf-8") as stream:
            json.dump({"type": "FeatureCollection", "features": found}, stream)
        readers = [("every date observing a prior (0)", QgisProcess(), ["OBSERVATIONS_PER_MONTH=0"]),
                   ("default", QgisProcess(), [])]
        if arguments.baseline:
            readers.insert(0, ("before (%s)" % os.path.basename(os.path.abspath(arguments.baseline)),
                               QgisProcess(arguments.baseline), []))
        runs = {}
        for number, (label, qgis, extra) in enumerate(readers):
            output = os.path.join(work, "year_plants_%d.gpkg" % number)
            runs[label] = run_plants(qgis, server, collection, priors, output, extra) + (plant_rows(output),)
    finally:
        server.stop()
    covers = [entry["properties"]["eo:cloud_cover"] for entry in found]
    print("%d items of 2022 (scene cloud cover median %.0f %%), %d priors, %d px blocks" % (
        len(found), float(np.median(covers)), arguments.priors, arguments.block))
    print("| reader | requests | MB fetched | of them SCL | wall s | 2019–2025 (7 years), GB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, (log, seconds, requests, sent, scl, _) in runs.items():
        print("| %s | %d | %.0f | %.0f | %.0f | %.0f |" % (label, requests, sent, scl, seconds, 7 * sent / 1e3))
        for line in log.splitlines():
            if re.search(r"Fetched|prior component|Plan: |Against the plan", line):
                print("  log:", line.strip())
    (_, _, _, default, _, default_plants) = runs["default"]
    for label, (_, _, _, sent, _, plants) in runs.items():
        print("%s: %.1f× the bytes of the default; plants identical: %s (%d plants)" % (
            label, sent / default, plants == default_plants, len(plants)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the shared data folder (holding s2_scenes/ and pv_polygons/)")
    parser.add_argument("--work", help="folder for the tile, COGs and outputs (default: a temporary one)")
    parser.add_argument("--dates", type=int, default=4)
    parser.add_argument("--priors", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--block", type=int, default=512, help="COG block size (px; GDAL's COG default 512)")
    parser.add_argument("--size", type=int, default=TILE, help="tile width and height (px)")
    parser.add_argument("--year", action="store_true",
                        help="a tile-year of real cloud patterns: every date against the default observations")
    parser.add_argument("--baseline", help="with --year: a checkout of the plugin to compare with (git worktree)")
    arguments = parser.parse_args()
    work = arguments.work or tempfile.mkdtemp(prefix="fusionpv-stac-bench-")
    os.makedirs(work, exist_ok=True)
    scene = os.path.join(work, "tile_full.tif" if arguments.size == TILE else "tile_%d.tif" % arguments.size)
    if not os.path.exists(scene):
        print("building the %d² scene in %s" % (arguments.size, scene), flush=True)
        build_scene(arguments.data, scene, arguments.size)
    cogs = os.path.join(work, "cogs_%d_%d" % (arguments.size, arguments.block))
    os.makedirs(cogs, exist_ok=True)
    paths = band_files(scene, cogs, arguments.block)
    whole = sum(os.path.getsize(path) for path in paths.values())
    priors = os.path.join(work, "stac_priors_%d_%d.gpkg" % (arguments.size, arguments.priors))
    if not os.path.exists(priors):
        place_priors(arguments.data, scene, priors, arguments.priors, 4326, arguments.seed)
    if arguments.year:
        tile_year(arguments, paths, scene, priors, work)
        return
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
