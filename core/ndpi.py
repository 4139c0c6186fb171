"""The normalized difference PV index (NDPI) of Zeng et al. 2025.

NDPI = (B11 − max(B2, B3, B4, B8, B12)) / (B11 + 1e-10), on surface or top-of-atmosphere reflectance (0–1).
PV panels reflect more in SWIR1 (B11, 1610 nm) than in the visible, NIR and SWIR2 bands, so NDPI is high on PV.
The index depends on the absolute reflectance level (it is not offset-invariant): DN must be converted with the
right scale and offset, reflectance = (DN + offset) / scale.
"""
import numpy as np

from .bands import ROLES

#: Denominator guard of the published definition.
NDPI_EPSILON = 1e-10
#: Sentinel-2 digital numbers per unit reflectance (L1C/L2A quantification value).
DEFAULT_SCALE = 10000.0
#: Offset added to DN before scaling: 0 for products before processing baseline 04.00 or harmonised ones.
DEFAULT_OFFSET = 0.0


def to_reflectance(dn, scale=DEFAULT_SCALE, offset=DEFAULT_OFFSET):
    """Reflectance (float64, 0–1) from digital numbers: (DN + offset) / scale."""
    reflectance = np.asarray(dn, dtype=np.float64)
    if offset:
        reflectance = reflectance + offset
    return reflectance / scale


def ndpi(blue, green, red, nir, swir1, swir2):
    """NDPI from reflectance arrays of B2, B3, B4, B8, B11, B12 (same shape), computed in float64."""
    brightest_other = np.maximum(np.maximum(np.maximum(blue, green), np.maximum(red, nir)), swir2)
    return (swir1 - brightest_other) / (swir1 + NDPI_EPSILON)


def valid_pixels(dn_by_role, nodata_by_role=None):
    """True where every band is finite and differs from its nodata value (``None`` = no nodata)."""
    valid = None
    for role in ROLES:
        band = dn_by_role[role]
        ok = np.isfinite(band) if np.issubdtype(band.dtype, np.floating) else np.ones(band.shape, bool)
        nodata = (nodata_by_role or {}).get(role)
        if nodata is not None:
            ok &= ~np.isnan(band) if np.isnan(nodata) else band != nodata
        valid = ok if valid is None else valid & ok
    return valid


def ndpi_from_dn(dn_by_role, scale=DEFAULT_SCALE, offset=DEFAULT_OFFSET, nodata_by_role=None):
    """NDPI (float64) and validity from DN arrays keyed by role (BLUE, GREEN, RED, NIR, SWIR1, SWIR2).

    A pixel is valid where no band is nodata or non-finite and B11 reflectance is positive (the index is undefined
    for B11 ≤ 0). Invalid pixels get NaN.
    """
    valid = valid_pixels(dn_by_role, nodata_by_role)
    reflectance = {role: to_reflectance(dn_by_role[role], scale, offset) for role in ROLES}
    valid &= reflectance["SWIR1"] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        index = ndpi(*(reflectance[role] for role in ROLES))
    index[~valid] = np.nan
    return index, valid
