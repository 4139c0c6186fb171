"""Sentinel-2 input shared by the algorithms: parameters INPUT, BAND_*, SCALE, OFFSET and reading the six bands."""
from dataclasses import dataclass

from qgis.core import (QgsProcessingException, QgsProcessingParameterBand, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer)

from ..core.bands import ROLE_BANDS, ROLES, BandLayoutError, detect_band_roles
from . import gdal_io
from .texts import tr

INPUT = "INPUT"
SCALE = "SCALE"
OFFSET = "OFFSET"
#: Band-number override parameters, by role.
BAND_PARAMETERS = {role: "BAND_" + role for role in ROLES}

SENTINEL2_HELP = (
    "<p><b>Sentinel-2 input</b>: a stack with bands B2, B3, B4, B8, B11 and B12. Band roles come from band "
    "descriptions (B2, B02, B8A…), otherwise from the band count of the usual Earth Engine exports (12 bands "
    "B1…B9, B11, B12 for L2A; 13 bands with B10 for L1C; 11 bands without B9 and B10); the band parameters "
    "override them. Reflectance = (DN + OFFSET) / SCALE. The index is <i>not</i> offset-invariant: for L2A "
    "products of processing baseline 04.00 or later that were not harmonised, set OFFSET to −1000.</p>")


@dataclass
class Sentinel2Bands:
    """The input raster: its grid and CRS, a band source reading windows of its six role bands, and the scaling."""
    grid: gdal_io.RasterGrid
    crs: object
    bands: gdal_io.GdalBands
    scale: float
    offset: float
    roles_from: str


def add_sentinel2_parameters(algorithm):
    """Add INPUT, the six BAND_* overrides, SCALE and OFFSET to ``algorithm``."""
    algorithm.addParameter(QgsProcessingParameterRasterLayer(INPUT, tr("Sentinel-2 image")))
    for role in ROLES:
        algorithm.addParameter(QgsProcessingParameterBand(
            BAND_PARAMETERS[role], tr("Band for %s (%s); empty = detect") % (role, ROLE_BANDS[role]),
            None, INPUT, optional=True))
    algorithm.addParameter(QgsProcessingParameterNumber(
        SCALE, tr("Scale: reflectance = (DN + offset) / scale"), QgsProcessingParameterNumber.Double, 10000.0,
        minValue=1e-12))
    algorithm.addParameter(QgsProcessingParameterNumber(
        OFFSET, tr("Offset added to DN before scaling (−1000 for non-harmonised L2A, baseline ≥ 04.00)"),
        QgsProcessingParameterNumber.Double, 0.0))


def read_sentinel2(algorithm, parameters, context, feedback):
    """Open INPUT and find its six role bands (read later, window by window), or raise a QgsProcessingException
    that names the parameter and the fix."""
    layer = algorithm.parameterAsRasterLayer(parameters, INPUT, context)
    if layer is None:
        raise QgsProcessingException(tr("INPUT: no raster layer was given or it cannot be loaded."))
    if layer.providerType() != "gdal":
        raise QgsProcessingException(
            tr("INPUT: '%s' is served by the '%s' provider; use a raster file that GDAL reads (GeoTIFF, JP2, VRT…).")
            % (layer.name(), layer.providerType()))
    if not layer.crs().isValid():
        raise QgsProcessingException(
            tr("INPUT: '%s' has no coordinate reference system; assign one (Layer Properties > Source).")
            % layer.name())
    path = layer.source()
    try:
        info = gdal_io.raster_info(path)
    except gdal_io.RasterReadError as error:
        raise QgsProcessingException(tr("INPUT: %s") % error)
    overrides = {role: algorithm.parameterAsInt(parameters, BAND_PARAMETERS[role], context) for role in ROLES}
    try:
        roles, how = detect_band_roles(info.descriptions, overrides)
    except BandLayoutError as error:
        raise QgsProcessingException(tr("INPUT: %s Use the parameters %s.") % (
            error, ", ".join(BAND_PARAMETERS[role] for role in ROLES)))
    feedback.pushInfo(tr("Band roles from %s: %s") % (how, ", ".join(
        "%s=band %d" % (role, roles[role] + 1) for role in ROLES)))
    bands = gdal_io.GdalBands(path, {role: roles[role] + 1 for role in ROLES},
                              {role: info.nodata[roles[role]] for role in ROLES})
    return Sentinel2Bands(
        grid=info.grid, crs=layer.crs(), bands=bands,
        scale=algorithm.parameterAsDouble(parameters, SCALE, context),
        offset=algorithm.parameterAsDouble(parameters, OFFSET, context),
        roles_from=how)
