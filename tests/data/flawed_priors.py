"""Flawed PV priors built from a reference outline, as PV products draw them (see the shared BENCHMARK.md)."""
import numpy as np
from scipy import ndimage

_EIGHT = np.ones((3, 3), bool)

#: Prior kinds whose published-code outputs are stored in chips.npz.
GOLDEN_PRIORS = ("exact", "grown1", "grown2", "shifted1", "generalised20m")


def generalised_20m(reference):
    """The outline on a 20 m grid (majority of each 2 × 2 block), drawn back at 10 m."""
    height, width = reference.shape
    padded = np.zeros((height + height % 2, width + width % 2), float)
    padded[:height, :width] = reference
    coarse = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean(axis=(1, 3)) >= 0.5
    return np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:height, :width]


def flawed_priors(reference):
    """Priors of several kinds (bool arrays) derived from a bool reference outline."""
    reference = np.asarray(reference, bool)
    half = reference.copy()
    half[:, : reference.shape[1] // 2] = False  # the western half of the window missing
    return {
        "exact": reference,
        "grown1": ndimage.binary_dilation(reference, _EIGHT),
        "grown2": ndimage.binary_dilation(reference, _EIGHT, iterations=2),
        "shifted1": np.roll(reference, 1, axis=1),
        "generalised20m": generalised_20m(reference),
        "half_missing": half if half.any() else reference,
    }
