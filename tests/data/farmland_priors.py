"""Candidate priors on the Flanders farmland patch (no PV): its parcels and plant-sized rectangles. Used by the
core tests (on ``farmland_flanders/flanders_series.npz``) and by ``bench/over_time.py --flanders``."""
import numpy as np
from scipy import ndimage

#: Parcels of at least this many pixels are priors on the farmland patch (before the 1 px erosion).
MIN_PARCEL_PIXELS = 60
#: Plant-sized rectangles on the farmland patch: how many, their sides (pixels, from–to) and the random seed.
RECTANGLES, RECTANGLE_SIDES, SEED = 10, (5, 12), 2026


def farmland_priors(labels):
    """[(name, bool prior)] on the parcel raster ``labels`` (crop codes, 0 = not a parcel): each parcel (a connected
    area of one crop code) of at least :data:`MIN_PARCEL_PIXELS` pixels eroded by 1 px, then :data:`RECTANGLES`
    rectangles placed at random."""
    priors = []
    for crop in np.unique(labels[labels > 0]):
        parcels, count = ndimage.label(labels == crop)
        for number in range(1, count + 1):
            parcel = parcels == number
            if parcel.sum() >= MIN_PARCEL_PIXELS:
                eroded = ndimage.binary_erosion(parcel, np.ones((3, 3), bool))
                rows, cols = np.nonzero(parcel)
                priors.append(("parcel of crop %d (%d px, rows %d-%d, cols %d-%d)" % (
                    crop, eroded.sum(), rows.min(), rows.max(), cols.min(), cols.max()), eroded))
    rng = np.random.default_rng(SEED)
    for number in range(1, RECTANGLES + 1):
        height, width = rng.integers(RECTANGLE_SIDES[0], RECTANGLE_SIDES[1] + 1, size=2)
        top = int(rng.integers(0, labels.shape[0] - height + 1))
        left = int(rng.integers(0, labels.shape[1] - width + 1))
        prior = np.zeros(labels.shape, bool)
        prior[top:top + height, left:left + width] = True
        priors.append(("rectangle %d (rows %d-%d, cols %d-%d)" % (number, top, top + height - 1, left,
                                                                  left + width - 1), prior))
    return priors
