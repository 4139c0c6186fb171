"""Check that the paper method equals the published code on every chip of a data folder.

Usage: ``python3 bench/verify_paper.py DATA_DIR PUBLISHED_CHECKOUT`` where DATA_DIR holds ``geotiff/`` of the
shared Austrian chips (``S2L2A_2022_clearmedian_<id>.tif``, ``S2L2A_bestdate_<id>.tif``, ``pv_mask_<id>.tif``)
and PUBLISHED_CHECKOUT is a checkout of ``SUNNYTREE-LAB/Fusion_PV_Mapping`` (needs its own dependencies:
OpenCV, Pillow, matplotlib). Flawed priors of every kind are run as trusted, as candidate, and both at once;
prints the number of comparisons and every mismatch, and exits 1 on any.
"""
import glob
import os
import sys

import numpy as np
from osgeo import gdal
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from chip_data import bands_by_role  # noqa: E402
from flawed_priors import flawed_priors  # noqa: E402
from published_reference import published_fusion  # noqa: E402
from fusion_pv_mapping.core.ndpi import ndpi_from_dn  # noqa: E402
from fusion_pv_mapping.core.paper import paper_fusion  # noqa: E402


def all_priors(reference):
    """The benchmark's flawed priors plus an eroded and a half-missing one."""
    priors = flawed_priors(reference)
    priors["eroded1"] = ndimage.binary_erosion(reference, np.ones((3, 3), bool))
    half = reference.copy()
    half[:, : reference.shape[1] // 2] = False
    priors["half_missing"] = half
    return priors


def main(data, checkout):
    compared, mismatches = 0, []
    for path in sorted(glob.glob(os.path.join(data, "geotiff", "S2L2A_*.tif"))):
        chip = path.rsplit("_", 1)[1][:-4]
        image = gdal.Open(path).ReadAsArray()
        reference = gdal.Open(os.path.join(data, "geotiff", "pv_mask_%s.tif" % chip)).ReadAsArray() > 0
        index, _ = ndpi_from_dn(bands_by_role(image))
        priors = all_priors(reference)
        for name, prior in priors.items():
            if not prior.any():
                continue
            ring = priors["grown2"] & ~reference
            for role, (trusted, candidate) in {"trusted": (prior, None), "candidate": (None, prior),
                                               "both": (prior, ring | priors["shifted1"])}.items():
                ours = paper_fusion(index, trusted, candidate).mask
                theirs = published_fusion(checkout, image, trusted, candidate)
                compared += 1
                if not np.array_equal(ours, theirs):
                    mismatches.append((os.path.basename(path), name, role, int(np.count_nonzero(ours != theirs))))
    for mismatch in mismatches:
        print("MISMATCH %s prior=%s role=%s pixels=%d" % mismatch)
    print("numpy %s: %d comparisons, %d mismatches" % (np.__version__, compared, len(mismatches)))
    return 1 if mismatches else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
