"""The bundled real chips (see ATTRIBUTION.md): paths, arrays and band roles for the tests."""
import os

from fusion_pv_mapping.core.bands import ROLES, detect_band_roles

AUSTRIA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "austria_pv")
CHIPS_NPZ = os.path.join(AUSTRIA, "chips.npz")
#: Band descriptions of the bundled GeoTIFFs.
CHIP_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


def chip_path(name):
    """Path of a bundled chip file, e.g. ``chip_path("S2L2A_2022_clearmedian_9.tif")``."""
    return os.path.join(AUSTRIA, name)


def chip_ids(chips):
    """Chip ids held in chips.npz."""
    return sorted(key[len("reference_"):] for key in chips.files if key.startswith("reference_"))


def bands_by_role(image):
    """DN arrays keyed by role from an 11-band chip array (bands first)."""
    roles, _ = detect_band_roles(CHIP_BANDS)
    return {role: image[roles[role]] for role in ROLES}
