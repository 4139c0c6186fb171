"""Speed and memory at full Sentinel-2 tile scale, as bench/BENCHMARK.md describes.

Usage: ``python3 bench/scale.py DATA_DIR [--work DIR] [--published CHECKOUT] [--priors N]``, DATA_DIR being the
shared ``data`` folder (``s2_scenes/`` and ``pv_polygons/`` are used).

* Scene: a 10980 × 10980 px, 11-band int16 stack (B01…B12 without B09/B10, like the bundled chips) built by tiling
  the real Virginia L1C bands, alternate copies mirror-flipped so that copies meet seamlessly, 20 m bands repeated
  2 × 2. The six bands the index uses are real; B01, B05, B06, B07 and B8A, which the index does not read, are
  copies of their nearest real band (B02, B04, B08, B08, B08). The quarter tile is its top-left 5490 × 5490 px.
* Priors: real PV polygons (OpenStreetMap, Germany), moved to random places of the tile with their shape and size
  kept: N trusted (in EPSG:4326, so they are reprojected) and N / 3 candidates (in the tile's CRS).
* Each run is the whole ``qgis_process run fusionpv:extractpvplants`` under ``/usr/bin/time -v``: wall seconds,
  peak resident memory and megapixels per second, for the paper and the improved method.
* Time series (``--series-dates 4,24``): the full tile as several dated stacks (VRTs of the same stack, one date
  per quarter from 2022-Q1: 24 dates are six years of quarters; no SCL, so every pixel is clear), through
  ``fusionpv:plantsovertime`` with PERIOD = Quarter, the same priors and WORKERS = 0 (both cores: the tile's groups
  shared by two worker processes): memory must stay flat as dates are added (only the windows around priors are
  read, per period). The log's per-job peak memory is the memory per worker.
* ONNX model (``--model-rows``, default on): ``fusionpv:runmodel`` with the shipped PV segmenter
  (``resources/models/pv_segmenter.onnx``, OpenCV DNN and, where installed, ONNX Runtime) on the full tile, class
  raster and per-class probabilities written: seconds per megapixel and peak memory.
* With ``--published``, the published code of Zeng et al. 2025 (a checkout, not bundled) runs on the quarter tile
  with the same prior masks, the way its ``fusion.py`` does (whole image as float64), under ``/usr/bin/time -v``.
"""
import argparse
import datetime
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from osgeo import gdal, ogr, osr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from qgisprocess import QgisProcess  # noqa: E402

gdal.UseExceptions()
TILE = 10980
QUARTER = TILE // 2
STACK_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: Real Virginia band used for each stack band (the index reads only B02, B03, B04, B08, B11, B12).
SOURCE_BAND = {"B01": "B02", "B05": "B04", "B06": "B08", "B07": "B08", "B8A": "B08"}


def virginia_band(data, name):
    """A real Virginia band at 10 m (20 m bands repeated 2 × 2), and the 10 m geotransform and projection."""
    folder = os.path.join(data, "s2_scenes", "virginia_18SVG_20160112_L1C")
    dataset = gdal.Open(os.path.join(folder, "s2_%s.tif" % SOURCE_BAND.get(name, name)))
    band = dataset.ReadAsArray()
    if dataset.GetGeoTransform()[1] == 20:
        band = np.repeat(np.repeat(band, 2, axis=0), 2, axis=1)
    reference = gdal.Open(os.path.join(folder, "s2_B02.tif"))
    return band, reference.GetGeoTransform(), reference.GetProjection()


def mirrored_tiling(band, size, rows, cols):
    """``band`` tiled to (rows, cols) of a ``size``-sided square; odd copies flipped so neighbours meet."""
    height, width = rows, cols
    tile = band[:height, :width]
    out = np.empty((size, size), band.dtype)
    for i, top in enumerate(range(0, size, height)):
        for j, left in enumerate(range(0, size, width)):
            piece = tile[:: -1 if i % 2 else 1, :: -1 if j % 2 else 1]
            out[top:top + height, left:left + width] = piece[: size - top, : size - left]
    return out


def build_scene(data, path, size):
    """Write the tiled 11-band stack of ``size`` × ``size`` px as a tiled GeoTIFF; returns its CRS WKT."""
    first, geotransform, projection = virginia_band(data, "B02")
    rows = min(virginia_band(data, b)[0].shape[0] for b in ("B02", "B11"))
    cols = min(virginia_band(data, b)[0].shape[1] for b in ("B02", "B11"))
    dataset = gdal.GetDriverByName("GTiff").Create(path, size, size, len(STACK_BANDS), gdal.GDT_Int16,
                                                   options=["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512",
                                                            "BIGTIFF=YES"])
    dataset.SetGeoTransform((geotransform[0], 10.0, 0.0, geotransform[3], 0.0, -10.0))
    dataset.SetProjection(projection)
    for number, name in enumerate(STACK_BANDS, start=1):
        band = dataset.GetRasterBand(number)
        band.SetDescription(name)
        band.SetNoDataValue(0)
        band.WriteArray(mirrored_tiling(virginia_band(data, name)[0].astype(np.int16), size, rows, cols))
    dataset = None
    return projection


def place_priors(data, scene, path, count, epsg, seed):
    """Write ``count`` real PV polygons (OSM Germany) moved to random places of the scene, in EPSG ``epsg``."""
    source = ogr.Open(os.path.join(data, "pv_polygons", "osm_pv_germany.gpkg"))
    layer = source.GetLayer(0)  # ``source`` stays referenced while the layer is used
    dataset = gdal.Open(scene)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    width, height = dataset.RasterXSize * dx, dataset.RasterYSize * -dy
    scene_srs = osr.SpatialReference(wkt=dataset.GetProjection())
    target = osr.SpatialReference()
    target.ImportFromEPSG(epsg)
    for srs in (scene_srs, target, layer.GetSpatialRef()):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    metric = osr.SpatialReference()
    metric.ImportFromEPSG(32632)  # UTM 32N: Germany, in metres
    metric.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_metric = osr.CoordinateTransformation(layer.GetSpatialRef(), metric)
    to_target = osr.CoordinateTransformation(scene_srs, target)
    rng = np.random.default_rng(seed)
    geometries = [f.GetGeometryRef().Clone() for f in layer]
    chosen = rng.choice(len(geometries), size=min(count, len(geometries)), replace=False)
    output = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    out_layer = output.CreateLayer("priors", target, ogr.wkbMultiPolygon)
    for index in chosen:
        geometry = geometries[index]
        geometry.Transform(to_metric)
        xmin, xmax, ymin, ymax = geometry.GetEnvelope()
        shift_x = x0 + rng.uniform(0, width - (xmax - xmin)) - xmin
        shift_y = y0 - height + rng.uniform(0, height - (ymax - ymin)) - ymin
        moved = ogr.CreateGeometryFromWkt(geometry.ExportToWkt())
        for part in range(max(moved.GetGeometryCount(), 1)):
            polygon = moved.GetGeometryRef(part) if moved.GetGeometryType() != ogr.wkbPolygon else moved
            for ring_number in range(polygon.GetGeometryCount()):
                ring = polygon.GetGeometryRef(ring_number)
                for point in range(ring.GetPointCount()):
                    x, y = ring.GetX(point), ring.GetY(point)
                    ring.SetPoint_2D(point, x + shift_x, y + shift_y)
            if moved.GetGeometryType() == ogr.wkbPolygon:
                break
        moved.Transform(to_target)
        feature = ogr.Feature(out_layer.GetLayerDefn())
        feature.SetGeometry(ogr.ForceToMultiPolygon(moved))
        out_layer.CreateFeature(feature)
    output = None


def timed(command, env=None):
    """Run a command under /usr/bin/time -v: (wall seconds, peak RSS in MiB, CompletedProcess)."""
    completed = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", completed.stderr).group(1)
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall.split(":"))))
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", completed.stderr).group(1)) / 1024
    return seconds, peak, completed


PUBLISHED_RUN = r"""
import sys, numpy as np
from osgeo import gdal
sys.path.insert(0, sys.argv[1])
import andpi, utils
image = gdal.Open(sys.argv[2]).ReadAsArray().transpose(1, 2, 0) / 10000   # as fusion.py: whole image, float64
old = gdal.Open(sys.argv[3]).ReadAsArray() * 100
new = gdal.Open(sys.argv[4]).ReadAsArray() * 100
old_final = andpi.ANDPI_process_with_mask(image, old, mode="old", ratio=0.8)
diff_final = andpi.ANDPI_process_with_mask(image, utils.mask_diffreence(old, new), mode="new")
final = utils.remove_small_areas(utils.mask_union(old_final, diff_final))
print("published PV pixels", int((final > 0).sum()))
"""


def rasterized(priors, scene, path):
    """The priors as a uint8 mask on the scene grid (pixel-centre rule), for the published code."""
    dataset = gdal.Open(scene)
    gdal.Rasterize(path, priors, format="GTiff", outputType=gdal.GDT_Byte, burnValues=[1],
                   width=dataset.RasterXSize, height=dataset.RasterYSize, outputSRS=dataset.GetProjection(),
                   outputBounds=(dataset.GetGeoTransform()[0],
                                 dataset.GetGeoTransform()[3] - 10 * dataset.RasterYSize,
                                 dataset.GetGeoTransform()[0] + 10 * dataset.RasterXSize,
                                 dataset.GetGeoTransform()[3]))


def series_row(qgis, work, scene, trusted, candidate, count):
    """Time ``fusionpv:plantsovertime`` (quarters) on ``count`` dated copies of the full tile, one per quarter."""
    folder = os.path.join(work, "quarters_%d" % count)
    os.makedirs(folder, exist_ok=True)
    dates = []
    for k in range(count):  # one date per quarter from 2022: 24 dates are six years of quarters
        day = datetime.date(2022 + k // 4, 3 * (k % 4) + 2, 15)
        path = os.path.join(folder, "tile_%s.vrt" % day.strftime("%Y%m%d"))
        if not os.path.exists(path):
            gdal.Translate(path, scene, format="VRT")
        dates.append(path)
    output = os.path.join(work, "over_time_%d.gpkg" % count)
    for leftover in (output, os.path.splitext(output)[0] + ".tiles"):  # a kept results folder would be reused
        subprocess.run(["rm", "-rf", leftover], check=True)
    seconds, peak, completed = timed([qgis.command, "run", "fusionpv:plantsovertime", "--",
                                      *["INPUT=" + path for path in dates], "PERIOD=1",
                                      "TRUSTED_PRIORS=" + trusted, "CANDIDATE_PRIORS=" + candidate,
                                      "OUTPUT=" + output], env=qgis.env)
    if completed.returncode != 0:
        sys.exit("qgis_process failed:\n" + completed.stdout[-2000:] + completed.stderr[-2000:])
    plants_dataset = ogr.Open(output)
    plants = plants_dataset.GetLayer(0).GetFeatureCount()
    workers = [float(value) for value in re.findall(r"peak (\d+) MiB", completed.stdout + completed.stderr)]
    return ("%d², %d dates" % (TILE, count), "over time (quarters; workers' peak %s MiB)"
            % " / ".join("%.0f" % value for value in workers), seconds, peak, TILE * TILE / 1e6 / seconds, plants)


#: Sentinel-2 tiles overlap by 9.8 km: the four tiles cut from the full tile overlap by as much.
REGION_OVERLAP = 980


def region_rows(qgis, work, scene, trusted, candidate):
    """``fusionpv:mapregion`` rows: the full tile alone (WORKERS = 0, its groups shared by the workers), and the
    full tile cut into four GeoTIFF tiles overlapping by :data:`REGION_OVERLAP` px with WORKERS = 2. Each row gives
    wall seconds, the peak memory of the largest process (a worker or qgis_process), full tiles per hour and the
    peak memory of each worker as the workers report it."""
    half = (TILE + REGION_OVERLAP) // 2
    quarters = []
    for top, left in ((0, 0), (0, TILE - half), (TILE - half, 0), (TILE - half, TILE - half)):
        path = os.path.join(work, "region_tile_%d_%d.tif" % (top, left))  # separate files, as Sentinel-2 tiles are
        if not os.path.exists(path):
            gdal.Translate(path, scene, srcWin=[left, top, half, half],
                           creationOptions=["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "BIGTIFF=YES"])
        quarters.append(path)
    rows = []
    for name, tiles, workers in (("mapregion, 1 tile, all cores", [scene], 0),
                                 ("mapregion, 4 overlapping tiles, 2 workers", quarters, 2)):
        output = os.path.join(work, "region_%d_%d.gpkg" % (len(tiles), workers))
        for leftover in (output, os.path.splitext(output)[0] + ".tiles"):
            subprocess.run(["rm", "-rf", leftover], check=True)
        seconds, peak, completed = timed([qgis.command, "run", "fusionpv:mapregion", "--",
                                          *["INPUT=" + tile for tile in tiles], "TRUSTED_PRIORS=" + trusted,
                                          "CANDIDATE_PRIORS=" + candidate, "WORKERS=%d" % workers,
                                          "OUTPUT=" + output], env=qgis.env)
        if completed.returncode != 0:
            sys.exit("qgis_process failed:\n" + completed.stdout[-2000:] + completed.stderr[-2000:])
        workers_peak = [float(peak_mib) for peak_mib in re.findall(r"peak (\d+) MiB", completed.stdout)]
        plants_dataset = ogr.Open(output)  # held while its layer is used
        plants = plants_dataset.GetLayer(0).GetFeatureCount()
        rows.append(("%d²" % TILE, "%s: %.0f tiles/h, worker peak %.0f MiB" % (
            name, 3600 / seconds, max(workers_peak)), seconds, peak, TILE * TILE / 1e6 / seconds, plants))
    return rows


def model_rows(qgis, work, scene):
    """Time ``fusionpv:runmodel`` (shipped PV segmenter) on the full tile with each back-end qgis_process has."""
    rows = []
    model = os.path.join(ROOT, "resources", "models", "pv_segmenter.onnx")
    onnxruntime_env = dict(qgis.env)  # QGIS's Python sees onnxruntime from make's venv, when it was made
    site = glob.glob(os.path.join(ROOT, ".venv-qgis-engines", "lib", "python3*", "site-packages"))
    if site:
        onnxruntime_env["PYTHONPATH"] = os.pathsep.join(filter(None, [site[0], qgis.env.get("PYTHONPATH")]))
    for backend, name, env in ((1, "OpenCV DNN", qgis.env), (2, "ONNX Runtime", onnxruntime_env)):
        outputs = [os.path.join(work, "model_%s_%d.tif" % (kind, backend)) for kind in ("classes", "probabilities")]
        for path in outputs:
            if os.path.exists(path):
                os.remove(path)
        seconds, peak, completed = timed([qgis.command, "run", "fusionpv:runmodel", "--", "INPUT=" + scene,
                                          "MODEL=" + model, "BACKEND=%d" % backend, "OUTPUT=" + outputs[0],
                                          "OUTPUT_PROBABILITIES=" + outputs[1]], env=env)
        if completed.returncode != 0:
            print("runmodel with %s did not run: %s" % (name, completed.stdout[-300:].strip()), file=sys.stderr)
            continue
        rows.append(("%d²" % TILE, "runmodel, %s (%.2f s/MP)" % (name, seconds / (TILE * TILE / 1e6)), seconds, peak,
                     TILE * TILE / 1e6 / seconds, ""))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the shared data folder (holding s2_scenes/ and pv_polygons/)")
    parser.add_argument("--work", help="folder for the scenes and outputs (default: a temporary one)")
    parser.add_argument("--published", help="a checkout of SUNNYTREE-LAB/Fusion_PV_Mapping to compare with")
    parser.add_argument("--priors", type=int, default=3000, help="trusted priors on the full tile")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--series-dates", default="4,24", help="date counts of the time-series rows ('' = none)")
    parser.add_argument("--only-series", action="store_true", help="run the time-series rows only")
    parser.add_argument("--model-rows", type=int, default=1, help="1 = time runmodel on the full tile")
    parser.add_argument("--only-model", action="store_true", help="run the runmodel rows only")
    parser.add_argument("--region-rows", type=int, default=1, help="1 = time mapregion on the full tile")
    parser.add_argument("--only-region", action="store_true", help="run the extractpvplants and mapregion rows only")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="fusionpv-scale-")
    os.makedirs(work, exist_ok=True)
    full, quarter = os.path.join(work, "tile_full.tif"), os.path.join(work, "tile_quarter.tif")
    trusted, candidate = os.path.join(work, "trusted.gpkg"), os.path.join(work, "candidate.gpkg")
    if not os.path.exists(full):
        started = time.time()
        build_scene(args.data, full, TILE)
        gdal.Translate(quarter, full, srcWin=[0, 0, QUARTER, QUARTER],
                       creationOptions=["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512"])
        place_priors(args.data, full, trusted, args.priors, 4326, args.seed)
        place_priors(args.data, full, candidate, args.priors // 3, 32618, args.seed + 1)
        print("built the scenes and priors in %s (%.0f s)" % (work, time.time() - started))
    qgis = QgisProcess()
    rows = []
    only = args.only_series or args.only_model
    for scene, size in () if only else ((full, TILE),) if args.only_region else ((quarter, QUARTER), (full, TILE)):
        for method, name in ((0, "paper"), (1, "improved")):
            output = os.path.join(work, "plants_%d_%s.gpkg" % (size, name))
            if os.path.exists(output):
                os.remove(output)
            seconds, peak, completed = timed([qgis.command, "run", "fusionpv:extractpvplants", "--",
                                              "INPUT=" + scene, "TRUSTED_PRIORS=" + trusted,
                                              "CANDIDATE_PRIORS=" + candidate, "METHOD=%d" % method,
                                              "OUTPUT=" + output], env=qgis.env)
            if completed.returncode != 0:
                sys.exit("qgis_process failed:\n" + completed.stdout[-2000:] + completed.stderr[-2000:])
            plants_dataset = ogr.Open(output)  # held while its layer is used
            plants = plants_dataset.GetLayer(0).GetFeatureCount()
            rows.append(("%d²" % size, name, seconds, peak, size * size / 1e6 / seconds, plants))
    if args.region_rows and not (args.only_series or args.only_model):
        rows.extend(region_rows(qgis, work, full, trusted, candidate))
    for count in [] if args.only_model or args.only_region else [int(n) for n in args.series_dates.split(",") if n]:
        rows.append(series_row(qgis, work, full, trusted, candidate, count))
    if args.model_rows and not args.only_region:
        rows.extend(model_rows(qgis, work, full))
    if args.published:
        masks = [os.path.join(work, "quarter_%s.tif" % role) for role in ("trusted", "candidate")]
        for priors, mask in zip((trusted, candidate), masks):
            rasterized(priors, quarter, mask)
        script = os.path.join(work, "published_run.py")
        with open(script, "w") as handle:
            handle.write(PUBLISHED_RUN)
        seconds, peak, completed = timed([sys.executable, script, args.published, quarter, *masks])
        if completed.returncode != 0:
            sys.exit("the published code failed:\n" + completed.stderr[-2000:])
        rows.append(("%d²" % QUARTER, "published code", seconds, peak, QUARTER * QUARTER / 1e6 / seconds, ""))
    print("| tile | method | wall s | peak MiB | MP/s | plants |")
    print("|---|---|---|---|---|---|")
    for tile, method, seconds, peak, rate, plants in rows:
        print("| %s | %s | %.1f | %.0f | %.1f | %s |" % (tile, method, seconds, peak, rate, plants))


if __name__ == "__main__":
    main()
