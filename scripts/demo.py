"""``make demo``: map PV plants on the bundled real Sentinel-2 chips through ``qgis_process``.

For four Austrian chips, the OpenStreetMap outlines (EPSG:4326) are used once as a *trusted* prior and once as a
*candidate* prior of ``fusionpv:extractpvplants``, with the paper and the improved method. Writes to ``demo_output/``: the plant polygons of every run
(GeoPackage), ``summary.csv`` (plants and pixel IoU against the reference outline), and ``demo.png`` comparing the
priors and the results on the imagery.
"""
import csv
import os
import sys

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
    print("Wrote %s (polygons, summary.csv, demo.png)" % os.path.relpath(OUTPUT, os.getcwd()))


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
