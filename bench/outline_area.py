"""How the plugin's 10 m outlines differ in area from the outlines they refine (for ``fusionpv:capacity``).

    /usr/bin/python3 bench/outline_area.py [shared/data/austria_pv]

USPVDB's footprints, on which the capacity model is fitted, are digitised on aerial imagery, like OSM's. On real
Austrian chips (each chip's clear-sky median of 2022 and its OSM polygons rasterised at 10 m: the 8 bundled in
tests/data/austria_pv/chips.npz, or the 28 of the data folder given, ``geotiff/S2L2A_2022_clearmedian_<id>.tif``
and ``geotiff/pv_mask_<id>.tif``), the improved method refines the OSM polygons as trusted priors; this prints, per
chip and in all, the area of the refined plants over the area of the OSM polygons (pixels × 100 m² both), the
known hard cases (floating PV built in 2023, plants unbuilt in 2022) apart.
"""
import glob
import os
import sys

import numpy as np
from osgeo import gdal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from chip_data import CHIPS_NPZ, bands_by_role, chip_ids  # noqa: E402
from fusion_pv_mapping.core.extract import extract_pv_plants  # noqa: E402


#: Chips whose OSM outline shows no PV in the 2022 imagery (floating PV of 2023, plants unbuilt in 2022).
HARD_CASES = ("1913", "1933", "2004", "2011")


def bundled_chips():
    """(chip id, DN by role, OSM mask) of the chips in chips.npz."""
    chips = np.load(CHIPS_NPZ)
    for chip in chip_ids(chips):
        yield chip, bands_by_role(chips["median_" + chip]), chips["reference_" + chip] > 0


def folder_chips(folder):
    """(chip id, DN by role, OSM mask) of the chips of a data folder (``geotiff/``)."""
    for path in sorted(glob.glob(os.path.join(folder, "geotiff", "S2L2A_2022_clearmedian_*.tif"))):
        chip = path.rsplit("_", 1)[1][:-len(".tif")]
        mask_path = os.path.join(folder, "geotiff", "pv_mask_%s.tif" % chip)
        if os.path.exists(mask_path):
            yield chip, bands_by_role(gdal.Open(path).ReadAsArray()), gdal.Open(mask_path).ReadAsArray() > 0


def main():
    chips = folder_chips(sys.argv[1]) if len(sys.argv) > 1 else bundled_chips()
    totals = {False: [0, 0, []], True: [0, 0, []]}
    for chip, bands, reference in chips:
        if not reference.any():
            continue
        refined = int(extract_pv_plants(bands, trusted=reference).mask().sum())
        ratio = refined / reference.sum()
        hard = chip in HARD_CASES
        totals[hard][0] += refined
        totals[hard][1] += int(reference.sum())
        totals[hard][2].append(ratio)
        print("chip %5s: OSM %6d px, refined %6d px, ratio %.3f%s" % (chip, reference.sum(), refined, ratio,
                                                                    " (hard case)" if hard else ""))
    for hard, (refined, osm, ratios) in totals.items():
        if ratios:
            print("%s%d chips: refined / OSM area in all %.3f; per chip median %.3f, quartiles %.3f–%.3f" % (
                "hard cases, " if hard else "", len(ratios), refined / osm, np.median(ratios),
                *np.percentile(ratios, (25, 75))))


if __name__ == "__main__":
    main()
