"""GlobalUrbanMapper's 10-channel input: Sentinel-2 B4, B3, B2, B8, Sentinel-1 VV/VH of both passes, and slope and
aspect from SRTM, each normalised to [0, 1] as GUM does (GUM, GlobalUrbanMapper).

- reflectance clipped to [0, 1];
- σ⁰ in dB: NaN → :data:`S1_FLOOR_DB`, clipped to [:data:`S1_FLOOR_DB`, 0], then (x − floor) / −floor;
- slope in degrees clipped to [0, 90] / 90; aspect in degrees clipped to [0, 360] / 360;
- a missing pass or DEM is 0.
"""
import numpy as np

#: Channel names, in GUM's order (also the output's band descriptions).
CHANNELS = ("B4", "B3", "B2", "B8", "VV_asc", "VH_asc", "VV_desc", "VH_desc", "slope", "aspect")
#: The Sentinel-2 roles of the first four channels (see ``bands.ROLES``).
S2_ROLES = ("RED", "GREEN", "BLUE", "NIR")
#: Lowest σ⁰ kept (dB); NaN becomes this value.
S1_FLOOR_DB = -25.0
MAX_SLOPE_DEGREES = 90.0
FULL_CIRCLE_DEGREES = 360.0


def normalised_reflectance(reflectance):
    """Reflectance clipped to [0, 1] (NaN stays NaN: nodata)."""
    return np.clip(reflectance, 0.0, 1.0).astype(np.float32)


def normalised_backscatter(sigma0_db):
    """σ⁰ (dB) → [0, 1]: NaN → :data:`S1_FLOOR_DB`, clipped to [floor, 0], (x − floor) / −floor."""
    sigma0_db = np.asarray(sigma0_db, dtype=np.float64)  # the same precision under numpy 1 and 2 (NEP 50)
    values = np.where(np.isnan(sigma0_db), S1_FLOOR_DB, sigma0_db)
    return ((np.clip(values, S1_FLOOR_DB, 0.0) - S1_FLOOR_DB) / -S1_FLOOR_DB).astype(np.float32)


def normalised_slope(degrees):
    """Slope (degrees) clipped to [0, 90] / 90."""
    return (np.clip(degrees, 0.0, MAX_SLOPE_DEGREES) / MAX_SLOPE_DEGREES).astype(np.float32)


def normalised_aspect(degrees):
    """Aspect (degrees clockwise from north) clipped to [0, 360] / 360."""
    return (np.clip(degrees, 0.0, FULL_CIRCLE_DEGREES) / FULL_CIRCLE_DEGREES).astype(np.float32)


def multisource_window(reflectance, s2_valid, ascending=None, descending=None, slope=None, aspect=None):
    """The 10 normalised channels (10, rows, cols) float32 of one window.

    ``reflectance`` maps the roles of :data:`S2_ROLES` to reflectance arrays; ``ascending`` and ``descending`` are
    (VV, VH) σ⁰ arrays in dB or None (missing pass), ``slope`` and ``aspect`` degree arrays or None (no DEM).
    Pixels where ``s2_valid`` is False are NaN in every channel.
    """
    shape = s2_valid.shape
    channels = [normalised_reflectance(reflectance[role]) for role in S2_ROLES]
    for sigma0 in (ascending, descending):
        channels += [normalised_backscatter(band) for band in sigma0] if sigma0 is not None else \
            [np.zeros(shape, np.float32)] * 2
    channels.append(normalised_slope(slope) if slope is not None else np.zeros(shape, np.float32))
    channels.append(normalised_aspect(aspect) if aspect is not None else np.zeros(shape, np.float32))
    stack = np.stack(channels)
    stack[:, ~s2_valid] = np.nan
    return stack
