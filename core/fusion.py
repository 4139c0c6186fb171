"""What both fusion methods share: the prior roles, the minimum plant size, how priors are normalised and how a
fused PV map is stored (so that a full tile fits in memory) and explained."""
from dataclasses import dataclass, field

import numpy as np

from .components import label_plants

#: Codes of the per-pixel source raster.
SOURCE_TRUSTED = 1
SOURCE_CANDIDATE = 2
#: Names of the sources a plant can come from, by (has trusted pixels, has candidate pixels).
SOURCE_NAMES = {(True, False): "trusted", (False, True): "candidate", (True, True): "both"}
#: Connected components (8-connectivity) of at most this many pixels are removed (Zeng et al. 2025).
DEFAULT_MIN_AREA_PIXELS = 5


def normalise_priors(shape, trusted=None, candidate=None):
    """Bool prior masks of ``shape`` (None = no such prior); candidates are the pixels not in a trusted prior."""
    trusted = np.zeros(shape, bool) if trusted is None else np.asarray(trusted, bool)
    candidate = np.zeros(shape, bool) if candidate is None else np.asarray(candidate, bool)
    if (candidate & trusted).any():
        candidate = candidate & ~trusted
    return trusted, candidate


@dataclass
class FusionResult:
    """A fused PV map.

    ``mask`` (bool) and ``source`` (uint8: 1 trusted, 2 candidate, 0 none) cover the image. Per-pixel numbers are
    kept sparse: ``pixel_index`` holds the row-major flat indices of the PV pixels (sorted), ``pixel_group`` a group
    id for each of them, and the ``*_by_group`` arrays the NDPI threshold, the confidence (NaN where the method
    gives none) and whether the prior was changed, per group. The paper method has one group per role, the
    improved method one per prior component. ``labels`` (int32) numbers the plants of ``mask`` 1…``plant_count``.
    ``decisions`` tells, one line each, how the method decided (for the log).
    """
    mask: np.ndarray
    source: np.ndarray
    pixel_index: np.ndarray
    pixel_group: np.ndarray
    threshold_by_group: np.ndarray
    confidence_by_group: np.ndarray
    refined_by_group: np.ndarray
    labels: np.ndarray
    plant_count: int
    decisions: list = field(default_factory=list)
    trusted: object = None
    candidate: object = None
    components: list = field(default_factory=list)

    def groups_at(self, flat):
        """Group ids of the given flat indices (0 where the pixel is not PV)."""
        position = np.searchsorted(self.pixel_index, flat)
        position = np.clip(position, 0, max(self.pixel_index.size - 1, 0))
        found = self.pixel_index.size > 0
        hit = (self.pixel_index[position] == flat) if found else np.zeros(np.shape(flat), bool)
        return np.where(hit, self.pixel_group[position] if found else 0, 0)


def fused_result(source, min_area, group_of, threshold_by_group, confidence_by_group, refined_by_group, **detail):
    """A :class:`FusionResult` from the ``source`` raster of the kept prior pixels (changed in place: pixels of
    removed components are cleared). Components of at most ``min_area`` pixels are removed and the plants labelled;
    ``group_of(flat indices)`` gives the group of PV pixels; ``detail`` fills the other fields."""
    labels, plants = label_plants(source > 0, min_area)
    mask = labels > 0
    source[~mask] = 0
    pixels = np.flatnonzero(mask)
    return FusionResult(mask, source, pixels, group_of(pixels), np.asarray(threshold_by_group, float),
                        np.asarray(confidence_by_group, float), np.asarray(refined_by_group, bool), labels, plants,
                        **detail)
