"""Sensitivity of the improved method's edge and candidate constants: each changed alone, up and down.

Usage: ``python3 bench/sensitivity.py DATA_DIR`` with DATA_DIR the shared ``data/austria_pv`` folder. For each
setting prints, on the main chips' clear-sky medians, the mean IoU of trusted priors (exact, grown 1 px, 20 m,
shifted), the share of real plants confirmed as exact candidates, the share of non-PV candidates confirmed on the
Virginia scene over eight placements (seeds 2025 and 1–7; mean and worst), and the share of clear single dates
(≥ 95 % clear) of the 2022 series on which the exact outline is confirmed as a candidate.
"""
import glob
import os
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import accuracy  # noqa: E402  (puts tests/ on the path and imports the plugin)
from over_time import read_series  # noqa: E402
from chip_data import bands_by_role  # noqa: E402
from fusion_pv_mapping.core import improved  # noqa: E402
from fusion_pv_mapping.core.bands import ROLES  # noqa: E402
from fusion_pv_mapping.core.extract import METHOD_IMPROVED, fuse  # noqa: E402

SEEDS = (2025, 1, 2, 3, 4, 5, 6, 7)
#: Constant → the values tried besides the current one.
SETTINGS = {"PSF_SIGMA": (0.7, 1.1), "PEEL_EVIDENCE": (40, 70), "SHIFT_EVIDENCE": (70, 130),
            "COARSE_KEEP_FRACTION": (0.25, 0.35), "MIN_BLUE_RED_GAIN": (1.0, 1.1),
            "DARK_BLUE_RED_GAIN": (1.1, 1.3), "DECISIVE_NDPI_AUC": (0.85, 0.95), "DECISIVE_NIR_DROP": (0.15, 0.25)}


def improved_mask(dn, trusted, candidate):
    return fuse(dn, trusted, candidate, method=METHOD_IMPROVED).mask


def clear_dates(data):
    """(DN by role, reference) for every clear single date of the main chips' series."""
    cases = []
    for path in sorted(glob.glob(os.path.join(data, "netcdf", "S2_2022_*.nc"))):
        chip = os.path.basename(path)[8:-3]
        if chip in accuracy.HARD_CASES:
            continue
        series, _ = read_series(path)
        reference = gdal.Open(os.path.join(data, "geotiff", "pv_mask_%s.tif" % chip)).ReadAsArray() > 0
        for date in range(len(series.dates)):
            if series.clear[date].mean() >= 0.95:
                cases.append(({role: series.dn_by_role[role][date] for role in ROLES}, reference))
    return cases


def measure(chips, negatives, dates):
    row = []
    for kind in ("exact", "grown1", "generalised20m", "shifted1"):
        row.append(np.mean([accuracy.iou_f1(improved_mask(dn, accuracy.flawed_priors(ref)[kind], None), ref)[0]
                            for dn, ref in chips]))
    row.append(np.mean([accuracy.iou_f1(improved_mask(dn, None, ref), ref)[0] >= 0.5 for dn, ref in chips]))
    shares = [np.mean([improved_mask(dn, None, prior).any() for dn, prior in placed]) for placed in negatives]
    row += [np.mean(shares), max(shares)]
    row.append(np.mean([accuracy.iou_f1(improved_mask(dn, None, ref), ref)[0] >= 0.5 for dn, ref in dates]))
    return row


def main():
    data = sys.argv[1]
    chips = [(bands_by_role(images["median"]), ref) for chip, images, ref in accuracy.austrian_chips(data)
             if chip not in accuracy.HARD_CASES]
    scene = accuracy.virginia_bands(data)
    shapes = [accuracy.bounding_shape(ref) for _, ref in chips]
    negatives = [accuracy.virginia_candidates(scene, shapes, 8, seed) for seed in SEEDS]
    dates = clear_dates(data)
    print("| setting | exact | grown 1 | 20 m | shifted | real confirmed | non-PV mean | non-PV worst | dates confirmed |")
    print("|---|---|---|---|---|---|---|---|---|")
    settings = [("current", None, None)] + [(name, name, value) for name, values in SETTINGS.items()
                                            for value in values]
    for label, name, value in settings:
        saved = getattr(improved, name) if name else None
        if name:
            setattr(improved, name, value)
            label = "%s = %g (now %g)" % (name, value, saved)
        try:
            row = measure(chips, negatives, dates)
        finally:
            if name:
                setattr(improved, name, saved)
        print("| %s | %s |" % (label, " | ".join("%.3f" % v for v in row)))


if __name__ == "__main__":
    main()
