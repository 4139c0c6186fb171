"""The Sentinel-2 image of an algorithm: a raster layer whose six role bands are read window by window."""
from dataclasses import dataclass

from qgis.core import QgsProcessingException

from ..core.bands import ROLE_BANDS, ROLES, BandLayoutError, detect_band_roles
from .messages import tr
from .raster import GdalBands, RasterGrid, RasterReadError, raster_info

#: Band-number override parameters, by role.
BAND_PARAMETERS = {role: "BAND_" + role for role in ROLES}


@dataclass
class Sentinel2Image:
    """The input raster: its grid and CRS, and a band source reading windows of its six role bands (with the
    scale and offset that turn its DN into reflectance)."""
    grid: RasterGrid
    crs: object
    bands: GdalBands


def open_sentinel2(layer, band_overrides, scale, offset, feedback, parameter="INPUT", roles=ROLES):
    """Open a raster layer and find its ``roles`` bands (default the six; read later, window by window), or raise a
    QgsProcessingException that names ``parameter`` and the fix. ``band_overrides`` maps roles to 1-based band
    numbers (0 = detect)."""
    if layer is None:
        raise QgsProcessingException(tr("%s: no raster layer was given or it cannot be loaded.") % parameter)
    if layer.providerType() != "gdal":
        raise QgsProcessingException(
            tr("%s: '%s' is served by the '%s' provider; use a raster file that GDAL reads (GeoTIFF, JP2, VRT…).")
            % (parameter, layer.name(), layer.providerType()))
    if not layer.crs().isValid():
        raise QgsProcessingException(
            tr("%s: '%s' has no coordinate reference system; assign one (Layer Properties > Source).")
            % (parameter, layer.name()))
    path = layer.source()
    try:
        info = raster_info(path)
        found, how = detect_band_roles(info.descriptions, band_overrides, roles)
        bands = GdalBands(path, {role: found[role] + 1 for role in roles},
                          {role: info.nodata[found[role]] for role in roles}, scale, offset)
    except RasterReadError as error:
        raise QgsProcessingException(tr("%s: %s") % (parameter, error))
    except BandLayoutError as error:
        raise QgsProcessingException(tr("%s: %s Use the parameters %s.") % (
            parameter, error, ", ".join(BAND_PARAMETERS[role] for role in roles)))
    feedback.pushInfo(tr("Band roles from %s: %s") % (how, ", ".join(
        "%s=band %d (%s)" % (role, found[role] + 1, ROLE_BANDS[role]) for role in roles)))
    return Sentinel2Image(info.grid, layer.crs(), bands)
