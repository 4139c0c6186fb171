"""PV prior layers (polygons or raster masks, any CRS) on the image grid: as the core's prior pieces (polygons
burnt window by window) or as whole bool masks."""
import numpy as np
from qgis.core import QgsMapLayerType, QgsProcessingException

from ..core.groups import ArrayPriors, UnionPriors
from .messages import tr
from .raster import RasterReadError, prior_name, pv_band_number, warp_mask
from .shapes import PolygonPriors
from .vector import gdal_wkt, polygons_on_grid


def raster_layer_mask(layer, grid):
    """Bool mask on ``grid`` of a raster layer's PV pixels (nearest neighbour; see ``raster.warp_mask``), from its
    band described 'PV' or its first band, the layer taken in its CRS as QGIS knows it."""
    return warp_mask(layer.source(), pv_band_number(layer.source()), grid, gdal_wkt(layer.crs()))


def check_prior_layer(layer, parameter):
    """Raise a QgsProcessingException unless ``layer`` is a polygon layer or a GDAL raster with a known CRS."""
    if not layer.crs().isValid():
        raise QgsProcessingException(
            tr("%s: layer '%s' has no known coordinate reference system; assign one (Layer Properties > Source) "
               "so it can be placed on the image.") % (parameter, layer.name()))
    if layer.type() == QgsMapLayerType.VectorLayer:
        return
    if layer.type() != QgsMapLayerType.RasterLayer or layer.providerType() != "gdal":
        raise QgsProcessingException(
            tr("%s: layer '%s' is neither a polygon layer nor a raster file; use polygons or a raster mask "
               "(non-zero = PV, or a PV probability).") % (parameter, layer.name()))


def _raster_mask(layer, parameter, grid):
    """:func:`raster_layer_mask`, its read errors as QgsProcessingExceptions naming ``parameter``."""
    try:
        return raster_layer_mask(layer, grid)
    except (RasterReadError, RuntimeError) as error:
        raise QgsProcessingException(tr("%s: cannot read raster '%s': %s") % (parameter, layer.name(), error))


def prior_layer_name(layer):
    """How a prior layer is named in messages and in the plants' ``sources``: its layer name, or for a raster the
    name written into it (see ``raster.prior_name``)."""
    if layer.type() == QgsMapLayerType.VectorLayer:
        return layer.name()
    return prior_name(layer.source(), layer.name())


def _report_overlap(name, parameter, count, unit, feedback):
    """Log how much of the prior layer ``name`` is on the image (``count`` ``unit``), or warn that none is."""
    if count:
        feedback.pushInfo(tr("%s: '%s': %d %s.") % (parameter, name, count, unit))
    else:
        feedback.pushWarning(tr("%s: '%s' does not overlap the image (no pixel centre inside); it is ignored.")
                             % (parameter, name))


def prior_source(layers, parameter, sentinel2, context, feedback):
    """The prior pieces (``core.groups.PriorSource``) of the ``layers`` given for ``parameter``: polygons are
    fetched for the image's extent and burnt later, window by window, only around themselves; raster masks are
    warped onto the grid. A layer that misses the image is a warning."""
    sources = []
    for layer in layers:
        check_prior_layer(layer, parameter)
        name = prior_layer_name(layer)
        if layer.type() == QgsMapLayerType.VectorLayer:
            polygons = polygons_on_grid(layer, parameter, sentinel2.grid, sentinel2.crs, context, feedback)
            source = PolygonPriors(polygons.wkbs, sentinel2.grid, name)
            _report_overlap(name, parameter, len(polygons.wkbs), tr("polygon(s) reach the image"), feedback)
        else:
            mask = _raster_mask(layer, parameter, sentinel2.grid)
            source = ArrayPriors(mask, name)
            _report_overlap(name, parameter, int(np.count_nonzero(mask)), tr("PV pixel(s) on the image"), feedback)
        sources.append(source)
    return UnionPriors(sources)


