"""``make demo``: map PV plants on the bundled real Sentinel-2 data through ``qgis_process``, from priors as flawed
as real products draw them, and show what the method makes of them.

1. Flawed priors (``refine.png``, ``summary.csv``): for four Austrian chips, the reference outline (OpenStreetMap)
   grown by a pixel (coarse products), shifted by a pixel (misregistration), generalised to 20 m (GlobalPV) and
   half missing are given to ``fusionpv:extractpvplants`` as *trusted* priors, with the improved and the paper
   method; plant-sized *candidate* priors on real winter farmland in Virginia (a bare field, a pasture; no PV) test
   rejection. ``summary.csv`` holds the prior's IoU and the result's IoU against the reference side by side.
2. Plants over time (``over_time.png``): the bundled real 2022 series of three chips by quarter, with a candidate
   prior on the field beside plant 9 that must never be PV; then ``fusionpv:materialflows`` from
   ``first_seen_year`` (``material_flows.csv``, ``material_flows.html``) and ``fusionpv:capacity``, MWdc per plant
   and per year (``capacity.gpkg``, ``capacity_per_year.csv``, the chart in ``capacity_per_year.html``).
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
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from osgeo import gdal, ogr  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qgisprocess import ROOT, QgisProcess  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
from flawed_priors import flawed_priors  # noqa: E402

DATA = os.path.join(ROOT, "tests", "data", "austria_pv")
VIRGINIA = os.path.join(ROOT, "tests", "data", "s2_scenes", "virginia_18SVG_20160112_L1C_crop")
OUTPUT = os.path.join(ROOT, "demo_output")
#: Flawed trusted priors: (kind as tests/data/flawed_priors.py names it, what it stands for, chip).
FLAWED = (("grown1", "grown by 1 px (a coarse product)", "159"),
          ("shifted1", "shifted by 1 px (misregistration)", "152"),
          ("generalised20m", "drawn on a 20 m grid (GlobalPV)", "101"),
          ("half_missing", "half missing", "9"))
CHIPS = ("9", "101", "152", "159")
#: Plant-sized candidate priors on real farmland with no PV (Virginia, January 2016): (name, rows, columns).
FARMLAND = (("a bare winter field", slice(165, 182), slice(160, 180)),
            ("a pasture", slice(118, 132), slice(104, 118)))
METHODS = {1: "improved", 0: "paper"}
#: Chips whose real 2022 series is bundled: present all year through snow, built in 2022, floating PV of 2023.
SERIES_CHIPS = ("9", "2004", "1913")
#: The field beside plant 9 (rows, columns of its chip): a candidate that is farmland all year.
FIELD_BESIDE_9 = (slice(0, 5), slice(0, 14))
COLOURS = {"reference": "#ffffff", "prior": "#00e5ff", "result": "#ff1744"}
PIXEL_M = 10


def true_colour(bands):
    """RGB of (B04, B03, B02) DN arrays stretched from 0–2500 with a 0.8 gamma, for display."""
    return np.clip(np.dstack(bands).astype(float) / 2500.0, 0, 1) ** 0.8


def chip_rgb(path):
    dataset = gdal.Open(path)
    return true_colour([dataset.GetRasterBand(n).ReadAsArray() for n in (4, 3, 2)])


def read_mask(path):
    dataset = gdal.Open(path)
    return dataset.GetRasterBand(1).ReadAsArray() > 0


def write_mask(path, template, mask):
    """A uint8 raster prior (1 = PV) on the grid of the raster ``template``."""
    source = gdal.Open(template)
    target = gdal.GetDriverByName("GTiff").Create(path, source.RasterXSize, source.RasterYSize, 1, gdal.GDT_Byte)
    target.SetGeoTransform(source.GetGeoTransform())
    target.SetProjection(source.GetProjection())
    target.GetRasterBand(1).WriteArray(mask.astype(np.uint8))
    target = None
    return path


def iou(mask, reference):
    union = np.count_nonzero(mask | reference)
    return np.count_nonzero(mask & reference) / union if union else float("nan")


def extract(qgis, image, role, prior, method, stem):
    """``fusionpv:extractpvplants`` through qgis_process; returns (plants, result mask)."""
    completed, result = qgis.run_algorithm("fusionpv:extractpvplants", {
        "INPUT": image, role: prior, "METHOD": method, "OUTPUT": stem + ".gpkg", "OUTPUT_MASK": stem + "_mask.tif"})
    if result is None:
        sys.exit("qgis_process failed on %s:\n%s" % (stem, completed.stderr))
    dataset = ogr.Open(stem + ".gpkg")
    return dataset.GetLayer(0).GetFeatureCount(), read_mask(stem + "_mask.tif")


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    qgis = QgisProcess()
    rows, panels = [], []
    for kind, label, chip in FLAWED:
        for chip_id in CHIPS:  # every chip gets every kind; the figure shows one chip per kind
            image = os.path.join(DATA, "S2L2A_2022_clearmedian_%s.tif" % chip_id)
            reference = read_mask(os.path.join(DATA, "pv_mask_%s.tif" % chip_id))
            prior = flawed_priors(reference)[kind]
            prior_path = write_mask(os.path.join(OUTPUT, "prior_%s_%s.tif" % (kind, chip_id)), image, prior)
            for method, method_name in METHODS.items():
                if method_name == "paper" and chip_id != chip:
                    continue  # the paper method on the chip of the figure only: it keeps a trusted prior as drawn
                stem = os.path.join(OUTPUT, "plants_%s_%s_%s" % (kind, chip_id, method_name))
                plants, result = extract(qgis, image, "TRUSTED_PRIORS", prior_path, method, stem)
                rows.append({"case": kind, "chip": chip_id, "prior_role": "trusted", "method": method_name,
                             "prior_iou": round(iou(prior, reference), 3), "result_iou": round(iou(result,
                                                                                                  reference), 3),
                             "plants": plants, "output": os.path.relpath(stem + ".gpkg", ROOT)})
                print("%-15s chip %-4s %-8s prior IoU %.3f  result IoU %.3f" % (
                    kind, chip_id, method_name, rows[-1]["prior_iou"], rows[-1]["result_iou"]))
                if chip_id == chip and method_name == "improved":
                    panels.append((label, chip_rgb(image), reference, prior, result, rows[-1]))
    panels += farmland_candidates(qgis, rows)
    with open(os.path.join(OUTPUT, "summary.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    draw_refinement(panels)
    over_time_chain(qgis)
    print("Wrote %s (priors, plants, summary.csv, refine.png, over_time.png, material flows)"
          % os.path.relpath(OUTPUT, os.getcwd()))


def farmland_candidates(qgis, rows):
    """Plant-sized candidate priors on real winter farmland with no PV (Virginia L1C, stacked first): both
    methods; returns the figure panels (improved method)."""
    stack = os.path.join(OUTPUT, "virginia_stack.tif")
    completed, result = qgis.run_algorithm("fusionpv:stackbands", {"INPUT": VIRGINIA, "OUTPUT": stack})
    if result is None:
        sys.exit("qgis_process could not stack the Virginia bands:\n%s" % completed.stderr)
    dataset = gdal.Open(stack)
    shape = (dataset.RasterYSize, dataset.RasterXSize)
    names = [dataset.GetRasterBand(n + 1).GetDescription() for n in range(dataset.RasterCount)]
    rgb = true_colour([dataset.GetRasterBand(names.index(b) + 1).ReadAsArray() for b in ("B04", "B03", "B02")])
    panels = []
    for number, (name, row_span, column_span) in enumerate(FARMLAND, start=1):
        prior = np.zeros(shape, bool)
        prior[row_span, column_span] = True
        prior_path = write_mask(os.path.join(OUTPUT, "prior_farmland_%d.tif" % number), stack, prior)
        view = (slice(max(row_span.start - 25, 0), row_span.stop + 25),
                slice(max(column_span.start - 25, 0), column_span.stop + 25))
        for method, method_name in METHODS.items():
            stem = os.path.join(OUTPUT, "plants_farmland_%d_%s" % (number, method_name))
            plants, result = extract(qgis, stack, "CANDIDATE_PRIORS", prior_path, method, stem)
            rows.append({"case": "farmland_%d" % number, "chip": "virginia", "prior_role": "candidate",
                         "method": method_name, "prior_iou": 0.0, "result_iou": 0.0 if not result.any() else
                         float("nan"), "plants": plants, "output": os.path.relpath(stem + ".gpkg", ROOT)})
            print("farmland %d (%s) %-8s %d plant(s) confirmed (no PV there: 0 is right)" % (
                number, name, method_name, plants))
            if method_name == "improved":
                panels.append(("candidate on %s (no PV)" % name, rgb[view], np.zeros(shape, bool)[view],
                               prior[view], result[view], rows[-1]))
    return panels


def outline(axis, mask, colour, fill=False, **style):
    """Draw the outline of a bool ``mask`` on an image axis (closed along the image edges too), filled lightly
    when ``fill``."""
    rows, cols = np.arange(-1, mask.shape[0] + 1), np.arange(-1, mask.shape[1] + 1)
    padded = np.pad(mask.astype(float), 1)
    if fill:
        axis.contourf(cols, rows, padded, levels=[0.5, 1.5], colors=[colour], alpha=0.25)
    axis.contour(cols, rows, padded, levels=[0.5], colors=[colour], **dict(dict(linewidths=1.8), **style))
    axis.set_xlim(-0.5, mask.shape[1] - 0.5)
    axis.set_ylim(mask.shape[0] - 0.5, -0.5)


def scale_bar(axis, width_px, metres=100):
    """A white bar of ``metres`` (10 m pixels) in the lower left."""
    length = metres / PIXEL_M
    axis.plot([1, 1 + length], [width_px - 1.5] * 2, color="white", linewidth=3, solid_capstyle="butt")
    axis.text(1 + length / 2, width_px - 2.2, "%d m" % metres, color="white", ha="center", va="bottom", fontsize=7)


def draw_refinement(panels):
    """One row per case: the image with the reference, the prior, the result, each over the imagery."""
    figure, axes = plt.subplots(len(panels), 3, figsize=(10, 2.9 * len(panels)), squeeze=False)
    for row, (label, rgb, reference, prior, result, scores) in enumerate(panels):
        for column, (title, mask, colour) in enumerate((("reference (OSM)", reference, COLOURS["reference"]),
                                                         ("prior: " + label, prior, COLOURS["prior"]),
                                                         ("result, improved method", result, COLOURS["result"]))):
            axis = axes[row, column]
            axis.imshow(rgb, interpolation="nearest")
            if mask.any():
                outline(axis, mask, colour, fill=True)
            if column == 2 and reference.any():
                outline(axis, reference, COLOURS["reference"], linewidths=1, linestyles="dashed")
            scale_bar(axis, rgb.shape[0])
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_title(title if reference.any() else "Virginia farmland, Jan 2016", fontsize=8)
            elif column == 1:
                axis.set_title("%s (IoU %.2f)" % (title, scores["prior_iou"]) if reference.any() else title,
                               fontsize=8)
            else:
                axis.set_title("%s (IoU %.2f)" % (title, scores["result_iou"]) if reference.any() else
                               "result: %s" % ("rejected" if not mask.any() else "confirmed (wrong)"), fontsize=8)
    handles = [Patch(facecolor=COLOURS["prior"], alpha=0.5, label="prior"),
               Patch(facecolor=COLOURS["result"], alpha=0.5, label="result"),
               Line2D([], [], color=COLOURS["reference"], linestyle="dashed", label="reference (OSM)")]
    figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, facecolor="#505050", labelcolor="white")
    figure.suptitle("Flawed priors refined and a false candidate rejected: Sentinel-2 L2A 2022 clear-sky medians "
                    "(Copernicus),\nOSM outlines (© OpenStreetMap contributors); Virginia: Sentinel-2 L1C 2016-01-12",
                    fontsize=9)
    figure.tight_layout(rect=(0, 0.03, 1, 0.97))
    figure.savefig(os.path.join(OUTPUT, "refine.png"), dpi=100)


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
    field = field_candidate_over_time(qgis)
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
    capacity_per_year(qgis, merged)
    draw_quarters(field)


def capacity_per_year(qgis, plants):
    """MWdc of the plants over time and the MW built per year (``capacity.gpkg``, ``capacity_per_year.csv`` and
    the chart in ``capacity_per_year.html``)."""
    completed, result = qgis.run_algorithm("fusionpv:capacity", {
        "INPUT": plants, "OUTPUT": os.path.join(OUTPUT, "capacity.gpkg"),
        "OUTPUT_YEARS": os.path.join(OUTPUT, "capacity_per_year.csv"),
        "OUTPUT_REPORT": os.path.join(OUTPUT, "capacity_per_year.html")})
    if result is None:
        sys.exit("qgis_process failed on the capacity:\n%s" % completed.stderr)
    totals = result["results"]
    print("capacity of the plants over time: %.2f MWdc (80 %% interval of the sum %.2f–%.2f): %s" % (
        totals["TOTAL_MWDC"], totals["TOTAL_MWDC_LOW"], totals["TOTAL_MWDC_HIGH"],
        os.path.relpath(totals["OUTPUT_REPORT"], os.getcwd())))


def field_candidate_over_time(qgis):
    """The field beside plant 9 (kept 2 px off the plant) as a candidate prior over the quarters of 2022, run alone:
    farmland, so it must never be PV. Returns (prior mask, plants-over-time stem)."""
    reference_path = os.path.join(DATA, "pv_mask_9.tif")
    reference = read_mask(reference_path)
    from scipy import ndimage
    field = np.zeros(reference.shape, bool)
    field[FIELD_BESIDE_9] = True
    field &= ~ndimage.binary_dilation(reference, iterations=2)
    prior = write_mask(os.path.join(OUTPUT, "prior_field_9.tif"), reference_path, field)
    stem = os.path.join(OUTPUT, "over_time_field_9")
    completed, result = qgis.run_algorithm("fusionpv:plantsovertime", {
        "INPUT": series_path("9"), "PERIOD": 1, "CANDIDATE_PRIORS": prior, "OUTPUT": stem + ".gpkg",
        "OUTPUT_PERIODS": stem + "_periods.tif"})
    if result is None:
        sys.exit("qgis_process failed on the field beside chip 9:\n%s" % completed.stderr)
    dataset = ogr.Open(stem + ".gpkg")
    feature = dataset.GetLayer(0).GetNextFeature()
    print("field beside plant 9 (candidate, no PV) over time: presence %s, %s" % (feature["presence"],
                                                                                  feature["status"]))
    return field, stem


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


def draw_quarters(field):
    """One row per series chip and one for the field beside plant 9: each quarter's clear-sky image with the
    outline found in it (red) and, for the field, its candidate prior (cyan)."""
    field_mask, field_stem = field
    rows = [(chip, os.path.join(OUTPUT, "over_time_%s" % chip), None) for chip in SERIES_CHIPS]
    rows.append(("9", field_stem, field_mask))
    figure, axes = plt.subplots(len(rows), 4, figsize=(12, 2.6 * len(rows)), squeeze=False)
    for row, (chip, stem, prior) in enumerate(rows):
        periods = gdal.Open(stem + "_periods.tif")
        dataset = ogr.Open(stem + ".gpkg")
        feature = dataset.GetLayer(0).GetNextFeature()
        for quarter, rgb in enumerate(quarterly_true_colour(chip)):
            axis = axes[row, quarter]
            axis.imshow(rgb, interpolation="nearest")
            if prior is not None:
                outline(axis, prior, COLOURS["prior"])
            present = periods.GetRasterBand(quarter + 1).ReadAsArray() > 0
            if present.any():
                outline(axis, present, COLOURS["result"])
            scale_bar(axis, rgb.shape[0])
            axis.set_xticks([])
            axis.set_yticks([])
            what = "field beside plant 9" if prior is not None else "chip %s" % chip
            axis.set_title("%s, %s: %s" % (what, periods.GetRasterBand(quarter + 1).GetDescription(),
                                           {"1": "PV", "0": "no PV", "-": "no clear data"}[
                                               feature["presence"][quarter]]), fontsize=8)
        axes[row, 0].set_ylabel(feature["status"] + (" (candidate)" if prior is not None else ""), fontsize=8)
    handles = [Line2D([], [], color=COLOURS["result"], label="PV found in the quarter"),
               Line2D([], [], color=COLOURS["prior"], label="candidate prior on farmland")]
    figure.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    figure.suptitle("PV plants over time: Sentinel-2 L2A 2022 quarterly clear-sky medians (Copernicus)", fontsize=9)
    figure.tight_layout(rect=(0, 0.03, 1, 0.97))
    figure.savefig(os.path.join(OUTPUT, "over_time.png"), dpi=100)


if __name__ == "__main__":
    main()
