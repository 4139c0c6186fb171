"""Band roles of a Sentinel-2 stack: which band of a raster is B2, B3, B4, B8, B11, B12.

Roles are found, in order of precedence, from explicit band numbers given by the user, from band descriptions
(``B2``, ``B02``, ``B8A``, ``B04 (red)``, …), and from the band count of the usual Google Earth Engine exports.
"""
import re

#: Roles needed by the PV indices, with the Sentinel-2 band that plays each.
ROLE_BANDS = {
    "BLUE": "B02",
    "GREEN": "B03",
    "RED": "B04",
    "NIR": "B08",
    "SWIR1": "B11",
    "SWIR2": "B12",
}
ROLES = tuple(ROLE_BANDS)

#: Sentinel-2 band names in wavelength order (B8A after B08).
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")

#: Band layouts of common Earth Engine exports, by band count.
GEE_LAYOUTS = {
    12: tuple(b for b in S2_BANDS if b != "B10"),  # COPERNICUS/S2_SR(_HARMONIZED), L2A
    13: S2_BANDS,  # COPERNICUS/S2(_HARMONIZED), L1C
    11: tuple(b for b in S2_BANDS if b not in ("B09", "B10")),  # without the atmospheric bands
}

_BAND_PATTERN = re.compile(r"(?<![A-Za-z0-9])B(8A|0?[1-9]|1[0-2])(?![A-Za-z0-9])", re.IGNORECASE)


class BandLayoutError(ValueError):
    """The band roles of a raster could not be determined."""


def sentinel2_band_name(description):
    """Canonical Sentinel-2 band name (``B02``, ``B8A``, ``B11``) found in a band description, else ``None``."""
    match = _BAND_PATTERN.search(description or "")
    if not match:
        return None
    number = match.group(1).upper()
    return "B8A" if number == "8A" else "B%02d" % int(number)


def roles_from_descriptions(descriptions):
    """Map role -> 0-based band index for every role whose band is named in ``descriptions``."""
    index_of_band = {}
    for index, description in enumerate(descriptions):
        name = sentinel2_band_name(description)
        if name is not None and name not in index_of_band:
            index_of_band[name] = index
    return {role: index_of_band[band] for role, band in ROLE_BANDS.items() if band in index_of_band}


def roles_from_band_count(band_count):
    """Map role -> 0-based band index for a known Earth Engine layout with ``band_count`` bands, else ``{}``."""
    layout = GEE_LAYOUTS.get(band_count)
    if layout is None:
        return {}
    return {role: layout.index(band) for role, band in ROLE_BANDS.items()}


def detect_band_roles(descriptions, overrides=None, required=ROLES):
    """Find the 0-based band index of each role in ``required`` (default :data:`ROLES`; other roles found are
    returned too).

    Band descriptions are used when any of them names a Sentinel-2 band; otherwise the band count must match an
    Earth Engine layout.
    ``descriptions`` holds one description per band (empty strings where there is none); ``overrides`` maps a role
    to a 1-based band number chosen by the user (``None`` or 0 = detect). Returns ``(roles, how)`` where ``how``
    says where the roles came from. Raises :class:`BandLayoutError` naming what was found when a role is missing.
    """
    band_count = len(descriptions)
    chosen = {}
    for role, number in (overrides or {}).items():
        if number:
            if not 1 <= number <= band_count:
                raise BandLayoutError(
                    "Band %d was chosen for %s but the raster has %d band(s)." % (number, role, band_count))
            chosen[role] = number - 1
    if all(role in chosen for role in required):
        return chosen, "band numbers given"

    from_descriptions = roles_from_descriptions(descriptions)
    if from_descriptions:
        detected, how = from_descriptions, "band descriptions"
    else:
        detected = roles_from_band_count(band_count)
        how = "the %d-band Earth Engine layout (%s)" % (band_count, ", ".join(GEE_LAYOUTS[band_count])) \
            if detected else None
    missing = [role for role in required if role not in chosen and role not in detected]
    if missing:
        found = [sentinel2_band_name(d) or (d or "(no description)") for d in descriptions]
        raise BandLayoutError(
            "Cannot tell which band is %s. The raster has %d band(s) described as [%s]; expected band descriptions "
            "naming %s, or an Earth Engine export with %s bands. Choose the band numbers explicitly." % (
                ", ".join("%s (%s)" % (role, ROLE_BANDS[role]) for role in missing), band_count, ", ".join(found),
                ", ".join(ROLE_BANDS[role] for role in required), " or ".join(str(n) for n in sorted(GEE_LAYOUTS))))
    roles = dict(detected)
    roles.update(chosen)
    if chosen:
        how = "%s, with band numbers given for %s" % (how, ", ".join(sorted(chosen)))
    return roles, how
