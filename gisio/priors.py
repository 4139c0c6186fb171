"""PV prior layers (polygons or raster masks, any CRS) as bool masks on the image grid."""
import numpy as np
from qgis.core import QgsMapLayerType, QgsProcessingException

from .messages import tr
from .raster import RasterReadError, pv_band_number, warp_mask
from .vector import gdal_wkt, polygons_on_grid, rasterize_geometries


def raster_layer_mask(layer, grid):
    """Bool mask on ``grid`` of a raster layer's PV pixels (nearest neighbour; see ``raster.warp_mask``), from its
    band described 'PV' or its first band, the layer taken in its CRS as QGIS knows it."""
    return warp_mask(layer.source(), pv_band_number(layer.source()), grid, gdal_wkt(layer.crs()))


def _layer_mask(layer, parameter, sentinel2, context, feedback):
    if not layer.crs().isValid():
        raise QgsProcessingException(
            tr("%s: layer '%s' has no known coordinate reference system; assign one (Layer Properties > Source) "
               "so it can be placed on the image.") % (parameter, layer.name()))
    if layer.type() == QgsMapLayerType.VectorLayer:
        polygons = polygons_on_grid(layer, parameter, sentinel2.grid, sentinel2.crs, context, feedback)
        return rasterize_geometries(polygons.wkbs, sentinel2.grid)
    if layer.type() == QgsMapLayerType.RasterLayer and layer.providerType() == "gdal":
        try:
            return raster_layer_mask(layer, sentinel2.grid)
        except (RasterReadError, RuntimeError) as error:
            raise QgsProcessingException(tr("%s: cannot read raster '%s': %s") % (parameter, layer.name(), error))
    raise QgsProcessingException(
        tr("%s: layer '%s' is neither a polygon layer nor a raster file; use polygons or a raster mask "
           "(non-zero = PV, or a PV probability).") % (parameter, layer.name()))


def prior_mask(layers, parameter, sentinel2, context, feedback):
    """Union (bool, image grid) of prior ``layers`` given for ``parameter``; a layer that misses the image is a
    warning."""
    mask = np.zeros((sentinel2.grid.height, sentinel2.grid.width), bool)
    for layer in layers:
        layer_mask = _layer_mask(layer, parameter, sentinel2, context, feedback)
        pixels = int(np.count_nonzero(layer_mask))
        if pixels:
            feedback.pushInfo(tr("%s: '%s' covers %d image pixel(s).") % (parameter, layer.name(), pixels))
        else:
            feedback.pushWarning(tr("%s: '%s' does not overlap the image (no pixel centre inside); it is ignored.")
                                 % (parameter, layer.name()))
        mask |= layer_mask
    return mask
