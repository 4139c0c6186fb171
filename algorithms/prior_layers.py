"""PV prior layers (polygons or raster masks, any CRS) as bool masks on the image grid."""
from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsCsException, QgsFeatureRequest,
                       QgsMapLayerType, QgsProcessingException, QgsRectangle, QgsWkbTypes)
import numpy as np

from . import gdal_io
from .texts import tr


def _gdal_wkt(crs):
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)


def _image_extent_in(layer_crs, sentinel2, context):
    """The image extent in ``layer_crs`` (to fetch only the features that may touch it), or None."""
    xmin, ymin, xmax, ymax = sentinel2.grid.bounds
    try:
        transform = QgsCoordinateTransform(sentinel2.crs, layer_crs, context.transformContext())
        return transform.transformBoundingBox(QgsRectangle(xmin, ymin, xmax, ymax))
    except QgsCsException:
        return None


def _polygon_wkbs(layer, parameter, sentinel2, context, feedback):
    """WKB of the layer's polygons that may touch the image, transformed to the image CRS."""
    if layer.geometryType() != QgsWkbTypes.PolygonGeometry:
        raise QgsProcessingException(
            tr("%s: layer '%s' holds %s geometries; PV priors must be polygons or raster masks.") % (
                parameter, layer.name(), QgsWkbTypes.geometryDisplayString(layer.geometryType()).lower()))
    transform = QgsCoordinateTransform(layer.crs(), sentinel2.crs, context.transformContext())
    request = QgsFeatureRequest().setNoAttributes()
    extent = _image_extent_in(layer.crs(), sentinel2, context)
    if extent is not None:
        request.setFilterRect(extent)
    wkbs, failed = [], 0
    for feature in layer.getFeatures(request):
        if feedback.isCanceled():
            break
        geometry = feature.geometry()
        if geometry.isEmpty():
            continue
        try:
            geometry.transform(transform)
        except QgsCsException:
            failed += 1
            continue
        wkbs.append(geometry.asWkb())
    if failed:
        feedback.pushWarning(tr("%s: %d polygon(s) of '%s' could not be transformed to the image CRS and were "
                                "skipped.") % (parameter, failed, layer.name()))
    return wkbs


def _layer_mask(layer, parameter, sentinel2, context, feedback):
    if not layer.crs().isValid():
        raise QgsProcessingException(
            tr("%s: layer '%s' has no known coordinate reference system; assign one (Layer Properties > Source) "
               "so it can be placed on the image.") % (parameter, layer.name()))
    if layer.type() == QgsMapLayerType.VectorLayer:
        return gdal_io.rasterize_geometries(_polygon_wkbs(layer, parameter, sentinel2, context, feedback),
                                            sentinel2.grid)
    if layer.type() == QgsMapLayerType.RasterLayer and layer.providerType() == "gdal":
        try:
            return gdal_io.warp_mask(layer.source(), 1, sentinel2.grid, _gdal_wkt(layer.crs()))
        except (gdal_io.RasterReadError, RuntimeError) as error:
            raise QgsProcessingException(tr("%s: cannot read raster '%s': %s") % (parameter, layer.name(), error))
    raise QgsProcessingException(
        tr("%s: layer '%s' is neither a polygon layer nor a raster file; use polygons or a raster mask "
           "(non-zero = PV).") % (parameter, layer.name()))


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
