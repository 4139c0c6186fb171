"""Connected components of binary masks (8-connectivity): labelling and removal of small ones.

scipy is the reference implementation; OpenCV, when importable, is used as a faster equivalent. Set
``USE_OPENCV = False`` (tests do) to force the scipy path.
"""
import numpy as np
from scipy import ndimage

USE_OPENCV = True
_EIGHT_CONNECTED = np.ones((3, 3), bool)


def _opencv():
    """The cv2 module if it may and can be used, else None."""
    if not USE_OPENCV:
        return None
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def label_components(mask):
    """Label 8-connected components of a bool mask: (labels int32 with 0 = background, number of components)."""
    mask = np.asarray(mask, bool)
    cv2 = _opencv()
    if cv2 is not None and mask.size and max(mask.shape) < 2 ** 31:
        count, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
        return labels, count - 1
    labels, count = ndimage.label(mask, structure=_EIGHT_CONNECTED, output=np.int32)
    return labels, count


def _morphology(mask, iterations, opencv_name, scipy_function):
    """Binary erosion or dilation by a 3 × 3 square; pixels outside the array count as False either way."""
    cv2 = _opencv()
    if cv2 is not None and mask.size:
        operation = getattr(cv2, opencv_name)
        result = operation(np.ascontiguousarray(mask, np.uint8), np.ones((3, 3), np.uint8), iterations=iterations,
                           borderType=cv2.BORDER_CONSTANT, borderValue=0)
        return result.view(bool)
    return scipy_function(mask, _EIGHT_CONNECTED, iterations=iterations)


def erode(mask, iterations=1):
    """Binary erosion by a 3 × 3 square, ``iterations`` times (pixels outside the array count as False)."""
    return _morphology(mask, iterations, "erode", ndimage.binary_erosion)


def dilate(mask, iterations=1):
    """Binary dilation by a 3 × 3 square, ``iterations`` times (pixels outside the array count as False)."""
    return _morphology(mask, iterations, "dilate", ndimage.binary_dilation)


def component_sizes(labels, count, mask):
    """Pixels per component: ``count + 1`` sizes (index 0 unused), counted over the pixels of ``mask`` only."""
    return np.bincount(labels[mask], minlength=count + 1)


def label_plants(mask, max_pixels):
    """Label the 8-connected components of a bool mask that have more than ``max_pixels`` pixels, numbered 1…n in
    raster order (as labelling the cleaned mask would): (labels int32, n). Smaller components get 0.

    Only the mask's pixels are touched after labelling, so a full tile needs the label raster and little more.
    """
    mask = np.asarray(mask, bool)
    labels, count = label_components(mask)
    if max_pixels > 0 and count:
        keep = component_sizes(labels, count, mask) > max_pixels
        keep[0] = False
        new_ids = np.zeros(count + 1, np.int32)
        new_ids[keep] = np.arange(1, int(np.count_nonzero(keep)) + 1, dtype=np.int32)
        labels[mask] = new_ids[labels[mask]]
        count = int(np.count_nonzero(keep))
    return labels, count


def remove_small_components(mask, max_pixels):
    """Copy of a bool mask without the 8-connected components of at most ``max_pixels`` pixels."""
    mask = np.asarray(mask, bool)
    if max_pixels <= 0 or not mask.any():
        return mask.copy()
    labels, _ = label_plants(mask, max_pixels)
    return labels > 0
