"""How the plugin's 10 m outlines differ in area from the outlines they refine (for ``fusionpv:capacity``).

    /usr/bin/python3 bench/outline_area.py

USPVDB's footprints, on which the capacity model is fitted, are digitised on aerial imagery, like OSM's. On the
bundled real Austrian chips (tests/data/austria_pv/chips.npz: each chip's clear-sky median of 2022 and its OSM
polygons rasterised at 10 m), the improved method refines the OSM polygons as trusted priors; this prints, per chip
and in all, the area of the refined plants over the area of the OSM polygons (pixels × 100 m² both).
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from chip_data import CHIPS_NPZ, bands_by_role, chip_ids  # noqa: E402
from fusion_pv_mapping.core.extract import extract_pv_plants  # noqa: E402


def main():
    chips = np.load(CHIPS_NPZ)
    ratios, refined_total, osm_total = [], 0, 0
    for chip in chip_ids(chips):
        reference = chips["reference_" + chip] > 0
        if not reference.any():
            continue
        plants = extract_pv_plants(bands_by_role(chips["median_" + chip]), trusted=reference)
        refined = int(plants.mask().sum())
        ratios.append(refined / reference.sum())
        refined_total += refined
        osm_total += int(reference.sum())
        print("chip %5s: OSM %6d px, refined %6d px, ratio %.3f" % (chip, reference.sum(), refined, ratios[-1]))
    print("%d chips: refined / OSM area in all %.3f; per chip median %.3f, quartiles %.3f–%.3f" % (
        len(ratios), refined_total / osm_total, np.median(ratios), *np.percentile(ratios, (25, 75))))


if __name__ == "__main__":
    main()
