"""Clear-sky composites of Sentinel-2 time series: the per-pixel median of clear observations.

A pixel observation is clear when its scene classification (SCL, L2A) is in the clear classes (default 4
vegetation, 5 not vegetated, 6 water) and the band value is not nodata. The median of an even number of values is
the mean of the two middle ones, rounded half to even; pixels with no clear observation get the output nodata.
"""
import numpy as np

from .s2_products import STACK_NODATA as OUTPUT_NODATA

#: SCL classes taken as clear by default: 4 vegetation, 5 not vegetated, 6 water.
DEFAULT_CLEAR_CLASSES = (4, 5, 6)
#: Scene classification (SCL) classes of L2A products: 0 no data … 11 snow or ice.
SCL_CLASSES = range(0, 12)


def clear_observations(scl, clear_classes=DEFAULT_CLEAR_CLASSES):
    """Bool (t, rows, cols): which observations are clear by their scene classification."""
    return np.isin(scl, np.asarray(clear_classes))


def clear_median(values, clear, nodata=None):
    """Median over time (axis 0) of the clear observations of one band: int16 DN, :data:`OUTPUT_NODATA` where no
    observation is clear. ``values`` is (t, rows, cols); ``clear`` bool of the same shape. Only the pixels with a
    clear observation are converted and sorted."""
    values = np.asarray(values)
    usable = clear & np.isfinite(values) if np.issubdtype(values.dtype, np.floating) else clear.copy()
    if nodata is not None:
        usable &= values != nodata
    count = usable.sum(axis=0)
    median = np.full(count.shape, OUTPUT_NODATA, np.int16)
    has = count > 0
    if has.any():
        data = values[:, has].astype(np.float64)
        if data.shape[0] == 1:  # one observation: itself
            middle = data[0]
        else:
            data[~usable[:, has]] = np.nan
            # sort once; NaNs go last, so the middle of the first ``count`` values is the median
            ordered = np.sort(data, axis=0)
            n = count[has]
            low = np.take_along_axis(ordered, ((n - 1) // 2)[None], axis=0)[0]
            high = np.take_along_axis(ordered, (n // 2)[None], axis=0)[0]
            middle = (low + high) / 2.0
        median[has] = np.clip(np.round(middle), OUTPUT_NODATA, np.iinfo(np.int16).max)
    return median


def composite(bands, scl, clear_classes=DEFAULT_CLEAR_CLASSES, nodata=None, keep=None):
    """Clear-sky median of every band: ({band: int16 array}, clear observation count uint16).

    ``bands`` maps band names to (t, rows, cols) arrays; ``scl`` is (t, rows, cols); ``keep`` optionally selects
    time steps (bool per t), e.g. a date range.
    """
    clear = clear_observations(scl, clear_classes)
    if keep is not None:
        clear &= np.asarray(keep, bool)[:, None, None]
    medians = {name: clear_median(values, clear, nodata) for name, values in bands.items()}
    return medians, clear.sum(axis=0).astype(np.uint16)
