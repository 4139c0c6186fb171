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


def component_sizes(labels, count):
    """Pixels per component: an array of ``count + 1`` sizes, index 0 being the background."""
    return np.bincount(labels.ravel(), minlength=count + 1)


def remove_small_components(mask, max_pixels):
    """Copy of a bool mask without the 8-connected components of at most ``max_pixels`` pixels."""
    mask = np.asarray(mask, bool)
    if max_pixels <= 0 or not mask.any():
        return mask.copy()
    labels, count = label_components(mask)
    keep = component_sizes(labels, count) > max_pixels
    keep[0] = False
    return keep[labels]


def relabel_sequential(labels, keep):
    """Labels renumbered 1..n over the components where bool ``keep[label]`` holds; others become 0."""
    new_ids = np.zeros(keep.size, np.int32)
    new_ids[keep] = np.arange(1, int(np.count_nonzero(keep)) + 1, dtype=np.int32)
    new_ids[0] = 0
    return new_ids[labels], int(np.count_nonzero(keep[1:]))
