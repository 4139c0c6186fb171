"""``make demo``: map PV plants on the bundled real Sentinel-2 chips through ``qgis_process``.

For four Austrian chips, the OpenStreetMap outlines (EPSG:4326) are used once as a *trusted* prior and once as a
*candidate* prior of ``fusionpv:extractpvplants``, with the paper and the improved method. Writes to ``demo_output/``: the plant polygons of every run
(GeoPackage), ``summary.csv`` (plants and pixel IoU against the reference outline), and ``demo.png`` comparing the
priors and the results on the imagery. Then the chain on the bundled real 2022 series of three chips:
``fusionpv:plantsovertime`` by quarter (``over_time.png``: each quarter with the outline found in it) and
``fusionpv:materialflows`` from ``first_seen_year`` (``material_flows.csv``).
"""
import csv
import datetime
import os
import sys
import warnings

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import PathPatch  # noqa: E402
from matplotlib.path import Path  # noqa: E402
from osgeo import gdal, ogr, osr  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qgisprocess import ROOT, QgisProcess  # noqa: E402

DATA = os.path.join(ROOT, "tests", "data", "austria_pv")
OUTPUT = os.path.join(ROOT, "demo_output")
CHIPS = ("9", "101", "152", "159")
#: Chips whose real 2022 series is bundled: present all year through snow, built in 2022, floating PV of 2023.
SERIES_CHIPS = ("9", "2004", "1913")
ROLES = ("TRUSTED_PRIORS", "CANDIDATE_PRIORS")
METHODS = {0: "paper", 1: "improved"}
COLOURS = {"prior": "#00e5ff", "TRUSTED_PRIORS": "#ff1744", "CANDIDATE_PRIORS": "#ff9100"}


def true_colour(path):
    """RGB (B04, B03, B02) of a chip stretched from DN 0–2500 with a 0.8 gamma, for display."""
    dataset = gdal.Open(path)
    rgb = np.dstack([dataset.GetRasterBand(n).ReadAsArray() for n in (4, 3, 2)]).astype(float)
    return np.clip(rgb / 2500.0, 0, 1) ** 0.8


def rings_in_pixels(path, image_path):
    """Polygon rings of a vector file as (col, row) arrays on the image grid."""
    image = gdal.Open(image_path)
    x0, dx, _, y0, _, dy = image.GetGeoTransform()
    target = osr.SpatialReference(wkt=image.GetProjection())
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dataset = ogr.Open(path)
    layer = dataset.GetLayer(0)
    source = layer.GetSpatialRef()
    source.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(source, target)
    rings = []
    for feature in layer:
        geometry = feature.GetGeometryRef().Clone()
        geometry.Transform(transform)
        for polygon in (geometry if geometry.GetGeometryType() == ogr.wkbMultiPolygon else [geometry]):
            for ring in polygon:
                points = np.array(ring.GetPoints())[:, :2]
                rings.append(np.column_stack([(points[:, 0] - x0) / dx - 0.5, (points[:, 1] - y0) / dy - 0.5]))
    return rings


def draw_rings(axis, rings, colour, fill):
    if not rings:
        return
    vertices = np.concatenate(rings)
    codes = np.concatenate([[Path.MOVETO] + [Path.LINETO] * (len(r) - 2) + [Path.CLOSEPOLY] for r in rings])
    axis.add_patch(PathPatch(Path(vertices, codes), facecolor=colour if fill else "none", alpha=0.45 if fill else 1,
                             edgecolor=colour, linewidth=1.6))


def pixel_iou(mask_path, reference_path):
    mask_dataset, reference_dataset = gdal.Open(mask_path), gdal.Open(reference_path)
    mask = mask_dataset.GetRasterBand(1).ReadAsArray() > 0
    reference = reference_dataset.GetRasterBand(1).ReadAsArray() > 0
    union = np.count_nonzero(mask | reference)
    return np.count_nonzero(mask & reference) / union if union else float("nan")


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    qgis = QgisProcess()
    prior = os.path.join(DATA, "osm_pv_chips.gpkg")
    rows = []
    for chip in CHIPS:
        image = os.path.join(DATA, "S2L2A_2022_clearmedian_%s.tif" % chip)
        reference = os.path.join(DATA, "pv_mask_%s.tif" % chip)
        for role in ROLES:
            for method, method_name in METHODS.items():
                stem = os.path.join(OUTPUT, "plants_%s_%s_%s" % (chip, role.split("_")[0].lower(), method_name))
                completed, result = qgis.run_algorithm("fusionpv:extractpvplants", {
                    "INPUT": image, role: prior, "METHOD": method, "OUTPUT": stem + ".gpkg",
                    "OUTPUT_MASK": stem + "_mask.tif"})
                if result is None:
                    sys.exit("qgis_process failed on chip %s:\n%s" % (chip, completed.stderr))
                dataset = ogr.Open(stem + ".gpkg")
                rows.append({"chip": chip, "prior_role": role, "method": method_name,
                             "plants": dataset.GetLayer(0).GetFeatureCount(),
                             "iou_result": round(pixel_iou(stem + "_mask.tif", reference), 3),
                             "output": os.path.relpath(stem + ".gpkg", ROOT)})
                print("chip %-4s %-16s %-6s plants %d  IoU vs OSM outline %.3f" % (
                    chip, role, method_name, rows[-1]["plants"], rows[-1]["iou_result"]))
    with open(os.path.join(OUTPUT, "summary.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    draw_figure(prior)
    over_time_chain(qgis)
    print("Wrote %s (polygons, summary.csv, demo.png, over_time.png, material_flows.csv)"
          % os.path.relpath(OUTPUT, os.getcwd()))


def over_time_chain(qgis):
    """Plants over time (quarters of 2022) on the bundled real series, then material flows from
    first_seen_year of all of them; ``over_time.png`` shows each quarter with the plant found in it."""
    layers = []
    for chip in SERIES_CHIPS:
        stem = os.path.join(OUTPUT, "over_time_%s" % chip)
        completed, result = qgis.run_algorithm("fusionpv:plantsovertime", {
            "INPUT": series_path(chip), "PERIOD": 1, "TRUSTED_PRIORS": os.path.join(DATA, "pv_mask_%s.tif" % chip),
            "OUTPUT": stem + ".gpkg", "OUTPUT_PERIODS": stem + "_periods.tif", "OUTPUT_TABLE": stem + "_table.csv"})
        if result is None:
            sys.exit("qgis_process failed on the series of chip %s:\n%s" % (chip, completed.stderr))
        dataset = ogr.Open(stem + ".gpkg")
        feature = dataset.GetLayer(0).GetNextFeature()
        print("chip %-4s over time: presence %s, %s, first seen %s" % (
            chip, feature["presence"], feature["status"], feature["construction_period"] or "never"))
        layers.append(stem + ".gpkg")
    merged = os.path.join(OUTPUT, "over_time_all.gpkg")
    completed, result = qgis.run_algorithm("native:mergevectorlayers", {"LAYERS": layers, "OUTPUT": merged})
    if result is None:
        sys.exit("qgis_process could not merge the plants over time:\n%s" % completed.stderr)
    flows = os.path.join(OUTPUT, "material_flows.csv")
    completed, result = qgis.run_algorithm("fusionpv:materialflows", {
        "INPUT": merged, "YEAR_FIELD": "first_seen_year", "OUTPUT": flows,
        "OUTPUT_REPORT": os.path.join(OUTPUT, "material_flows.html")})
    if result is None:
        sys.exit("qgis_process failed on the material flows:\n%s" % completed.stderr)
    print("material flows from first_seen_year: %s" % os.path.relpath(flows, os.getcwd()))
    draw_quarters()


def series_path(chip):
    return os.path.join(DATA, "netcdf", "S2_2022_%s.nc" % chip)


def quarterly_true_colour(chip):
    """RGB of the clear observations (SCL 4, 5, 6) of each quarter of 2022, median per pixel, for display."""
    path = series_path(chip)
    values = {name: gdal.Open('NETCDF:"%s":%s' % (path, name)).ReadAsArray().astype(float)
              for name in ("B04", "B03", "B02", "SCL")}
    first = gdal.Open('NETCDF:"%s":B02' % path)
    months = [(datetime.date(1990, 1, 1) + datetime.timedelta(days=float(
        first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t")))).month for i in range(first.RasterCount)]
    clear = np.isin(values["SCL"], (4, 5, 6)) & (values["B04"] != 32767)
    images = []
    for quarter in range(4):
        keep = clear & np.array([(m - 1) // 3 == quarter for m in months])[:, None, None]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rgb = np.dstack([np.nanmedian(np.where(keep, values[n], np.nan), axis=0) for n in ("B04", "B03", "B02")])
        images.append(np.clip(np.nan_to_num(rgb) / 2500.0, 0, 1) ** 0.8)
    return images


def draw_quarters():
    figure, axes = plt.subplots(len(SERIES_CHIPS), 4, figsize=(12, 2.8 * len(SERIES_CHIPS)), squeeze=False)
    for row, chip in enumerate(SERIES_CHIPS):
        stem = os.path.join(OUTPUT, "over_time_%s" % chip)
        periods = gdal.Open(stem + "_periods.tif")
        dataset = ogr.Open(stem + ".gpkg")
        feature = dataset.GetLayer(0).GetNextFeature()
        for quarter, rgb in enumerate(quarterly_true_colour(chip)):
            axis = axes[row, quarter]
            axis.imshow(rgb, interpolation="nearest")
            present = periods.GetRasterBand(quarter + 1).ReadAsArray()
            if present.any():
                axis.contour(present, levels=[0.5], colors=COLOURS["TRUSTED_PRIORS"], linewidths=1.6)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title("chip %s, %s: %s" % (chip, periods.GetRasterBand(quarter + 1).GetDescription(),
                                                {"1": "PV", "0": "no PV", "-": "no clear data"}[
                                                    feature["presence"][quarter]]), fontsize=9)
        axes[row, 0].set_ylabel(feature["status"])
    figure.suptitle("PV plants over time: Sentinel-2 L2A 2022 quarterly clear-sky medians (Copernicus), plant "
                    "outlines found per quarter (red)", fontsize=9)
    figure.tight_layout()
    figure.savefig(os.path.join(OUTPUT, "over_time.png"), dpi=100)


def draw_figure(prior):
    columns = [("prior", None, "OSM outline (prior)")] + [
        (role, method, "%s, %s method" % ("Trusted" if role == "TRUSTED_PRIORS" else "Candidate", method))
        for role in ROLES for method in METHODS.values()]
    figure, axes = plt.subplots(len(CHIPS), len(columns), figsize=(3.4 * len(columns), 2.6 * len(CHIPS)),
                                squeeze=False)
    for row, chip in enumerate(CHIPS):
        image = os.path.join(DATA, "S2L2A_2022_clearmedian_%s.tif" % chip)
        rgb = true_colour(image)
        outline = rings_in_pixels(prior, image)
        for column, (role, method, title) in enumerate(columns):
            axis = axes[row, column]
            axis.imshow(rgb, interpolation="nearest")
            draw_rings(axis, outline, COLOURS["prior"], fill=False)
            if role != "prior":
                result = os.path.join(OUTPUT, "plants_%s_%s_%s.gpkg" % (chip, role.split("_")[0].lower(), method))
                draw_rings(axis, rings_in_pixels(result, image), COLOURS[role], fill=True)
            axis.set_xlim(-0.5, rgb.shape[1] - 0.5)
            axis.set_ylim(rgb.shape[0] - 0.5, -0.5)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=9)
            if column == 0:
                axis.set_ylabel("chip %s" % chip)
    figure.suptitle("Fusion PV Mapping demo: Sentinel-2 L2A 2022 clear-sky median (Copernicus), "
                    "OSM outlines (© OpenStreetMap contributors)", fontsize=9)
    figure.tight_layout()
    figure.savefig(os.path.join(OUTPUT, "demo.png"), dpi=100)


if __name__ == "__main__":
    main()
