"""The outcome of a fusion, shared by both methods, stored so that a full tile fits in memory."""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class FusionResult:
    """A fused PV map.

    ``mask`` (bool) and ``source`` (uint8: 1 trusted, 2 candidate, 0 none) cover the image. Per-pixel numbers are
    kept sparse: ``pixel_index`` holds the row-major flat indices of the PV pixels (sorted), ``pixel_group`` a group
    id for each of them, and the ``*_by_group`` arrays the NDPI threshold, the confidence (NaN where the method
    gives none) and whether the prior was changed, per group. The paper method has one group per role, the
    improved method one per prior component. ``labels`` (int32) numbers the plants of ``mask`` 1…``plant_count``.
    """
    mask: np.ndarray
    source: np.ndarray
    pixel_index: np.ndarray
    pixel_group: np.ndarray
    threshold_by_group: np.ndarray
    confidence_by_group: np.ndarray
    refined_by_group: np.ndarray
    trusted: object = None
    candidate: object = None
    components: list = field(default_factory=list)
    labels: np.ndarray = None
    plant_count: int = 0

    def groups_at(self, flat):
        """Group ids of the given flat indices (0 where the pixel is not PV)."""
        position = np.searchsorted(self.pixel_index, flat)
        position = np.clip(position, 0, max(self.pixel_index.size - 1, 0))
        found = self.pixel_index.size > 0
        hit = (self.pixel_index[position] == flat) if found else np.zeros(np.shape(flat), bool)
        return np.where(hit, self.pixel_group[position] if found else 0, 0)

    def per_pixel(self, name):
        """A full-image float32 array of a per-group number (for small images and tests; NaN where not PV)."""
        values = np.full(self.mask.shape, np.nan, np.float32)
        values.flat[self.pixel_index] = getattr(self, name + "_by_group")[self.pixel_group]
        return values

    @property
    def threshold(self):
        return self.per_pixel("threshold")

    @property
    def confidence(self):
        return self.per_pixel("confidence")

    @property
    def refined(self):
        refined = np.zeros(self.mask.shape, bool)
        refined.flat[self.pixel_index] = self.refined_by_group[self.pixel_group]
        return refined
