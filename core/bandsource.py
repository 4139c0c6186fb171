"""Where the core reads Sentinel-2 bands from: whole arrays, or windows of a large raster read on demand.

A band source has ``shape`` (rows, cols), ``block_shape`` (the natural read unit, e.g. GDAL's block),
``read_target`` (the side of the windows read at once), the ``nodata_by_role`` of its bands, the ``scale`` and
``offset`` that turn its DN into reflectance, and ``read(rows, cols)`` returning DN arrays keyed by role (BLUE,
GREEN, RED, NIR, SWIR1, SWIR2) for a window given as two slices. The core only ever asks for windows, so a full
Sentinel-2 tile is never held in memory.
"""
import numpy as np

from .bands import ROLES
from .ndpi import DEFAULT_OFFSET, DEFAULT_SCALE, ndpi_from_dn, to_reflectance
from .windows import READ_TARGET


class BandSource:
    """What every band source shares: the scaling of its DN and the indices computed from a window it read."""
    shape = (0, 0)
    block_shape = (0, 0)
    read_target = READ_TARGET
    nodata_by_role = {}
    scale = DEFAULT_SCALE
    offset = DEFAULT_OFFSET

    def read(self, rows, cols):
        """DN arrays keyed by role for the window (rows, cols) given as slices."""
        raise NotImplementedError

    def ndpi(self, dn_by_role):
        """NDPI (float64, NaN = invalid) and validity of DN arrays this source read."""
        return ndpi_from_dn(dn_by_role, self.scale, self.offset, self.nodata_by_role)

    def reflectance(self, dn_by_role):
        """Reflectance (rows, cols, 6) in B2, B3, B4, B8, B11, B12 order of DN arrays this source read."""
        return np.stack([to_reflectance(dn_by_role[role], self.scale, self.offset) for role in ROLES], axis=-1)


class ArrayBands(BandSource):
    """A band source over DN arrays already in memory (keyed by role)."""

    def __init__(self, dn_by_role, nodata_by_role=None, block_shape=None, read_target=READ_TARGET,
                 scale=DEFAULT_SCALE, offset=DEFAULT_OFFSET):
        self.dn_by_role = {role: np.asarray(dn_by_role[role]) for role in ROLES}
        self.shape = self.dn_by_role[ROLES[0]].shape
        self.block_shape = tuple(block_shape) if block_shape else self.shape
        self.nodata_by_role = dict(nodata_by_role or {})
        self.read_target = read_target
        self.scale, self.offset = scale, offset

    def read(self, rows, cols):
        return {role: band[rows, cols] for role, band in self.dn_by_role.items()}


def band_source(bands):
    """``bands`` as a band source: DN arrays keyed by role (reflectance = DN / 10000, no nodata) become
    :class:`ArrayBands`; a band source is returned as it is."""
    return ArrayBands(bands) if isinstance(bands, dict) else bands
