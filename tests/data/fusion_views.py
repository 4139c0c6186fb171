"""Full-image views of a core FusionResult's sparse per-group numbers, for small images in tests."""
import numpy as np


def per_pixel(result, name):
    """A float32 array of a per-group number (``threshold``, ``confidence``); NaN where not PV."""
    values = np.full(result.mask.shape, np.nan, np.float32)
    values.flat[result.pixel_index] = getattr(result, name + "_by_group")[result.pixel_group]
    return values


def refined(result):
    """Bool array: PV pixels whose prior the method changed."""
    changed = np.zeros(result.mask.shape, bool)
    changed.flat[result.pixel_index] = result.refined_by_group[result.pixel_group]
    return changed
