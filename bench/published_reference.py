"""Run the published code of Zeng et al. 2025 from a local checkout, for comparison only (it is not bundled).

``SUNNYTREE-LAB/Fusion_PV_Mapping`` (MIT) works on PNG chips; its ``fusion.py`` reads files. This composes its
``andpi.ANDPI_process_with_mask`` and ``utils`` functions the way ``fusion.py`` does, on arrays.
"""
import sys

import numpy as np


def published_fusion(checkout, image, trusted, candidate):
    """Fused bool mask of the published code for an image (bands first, DN; bands 2, 3, 4, 8 and the last two
    must be B2, B3, B4, B8, B11, B12 as in its 12-band stacks) and bool prior masks (None = no such prior)."""
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    import andpi
    import utils
    reflectance = np.transpose(image, (1, 2, 0)) / 10000
    new = (candidate if candidate is not None else np.zeros(image.shape[1:], bool)).astype(np.uint8) * 100
    if trusted is not None:
        old = trusted.astype(np.uint8) * 100
        old_final = andpi.ANDPI_process_with_mask(reflectance, old, mode="old", ratio=0.8)
        diff_final = andpi.ANDPI_process_with_mask(reflectance, utils.mask_diffreence(old, new), mode="new")
        final = utils.mask_union(old_final, diff_final)
    else:
        final = andpi.ANDPI_process_with_mask(reflectance, new, mode="new")
    return utils.remove_small_areas(final) > 0
