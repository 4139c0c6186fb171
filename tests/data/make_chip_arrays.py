"""Rebuild ``austria_pv/chips.npz`` from the bundled GeoTIFFs (needs GDAL).

Stores, per chip id: ``median_<id>`` and ``bestdate_<id>`` (int16, bands B01…B12 without B09/B10, as in the
GeoTIFFs) and ``reference_<id>`` (bool PV outline), so core tests run without GDAL. With ``--published DIR``
(a checkout of SUNNYTREE-LAB/Fusion_PV_Mapping, see bench/published_reference.py), it also stores ``published_<kind>_<prior>_<role>_<id>``:
the published code's fused mask for the flawed priors of :mod:`flawed_priors`, the golden outputs the core must
reproduce, and ``published_made_with_numpy``, the numpy version they were made with (ties between equally high
histogram peaks are broken by numpy's unstable argsort inside scipy's ``find_peaks``, so a few outputs depend on it).
"""
import argparse
import glob
import os
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench"))
from flawed_priors import GOLDEN_PRIORS, flawed_priors  # noqa: E402
from published_reference import published_fusion  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--published", help="folder holding the published andpi.py and utils.py")
    args = parser.parse_args()
    arrays = {}
    folder = os.path.join(HERE, "austria_pv")
    for path in sorted(glob.glob(os.path.join(folder, "pv_mask_*.tif"))):
        chip = os.path.basename(path)[len("pv_mask_"):-4]
        reference = gdal.Open(path).ReadAsArray() > 0
        arrays["reference_" + chip] = reference
        for kind, pattern in (("median", "S2L2A_2022_clearmedian_%s.tif"), ("bestdate", "S2L2A_bestdate_%s.tif")):
            image = gdal.Open(os.path.join(folder, pattern % chip)).ReadAsArray()
            arrays["%s_%s" % (kind, chip)] = image
            if args.published:
                priors = flawed_priors(reference)
                for prior in GOLDEN_PRIORS:
                    for role in ("trusted", "candidate"):
                        roles = (priors[prior], None) if role == "trusted" else (None, priors[prior])
                        arrays["published_%s_%s_%s_%s" % (kind, prior, role, chip)] = published_fusion(
                            args.published, image, *roles)
    if args.published:
        arrays["published_made_with_numpy"] = np.array(np.__version__)
    np.savez_compressed(os.path.join(folder, "chips.npz"), **arrays)


if __name__ == "__main__":
    main()
