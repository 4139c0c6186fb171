"""PV prior layers (polygons or raster masks, any CRS) as bool masks on the image grid."""
from dataclasses import dataclass, field

from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsCsException, QgsFeatureRequest,
                       QgsMapLayerType, QgsProcessingException, QgsRectangle, QgsWkbTypes)
import numpy as np

from . import gdal_io
from .texts import tr


def gdal_wkt(crs):
    """A QGIS CRS as the WKT GDAL prefers."""
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)


def raster_layer_mask(layer, grid):
    """Bool mask on ``grid`` of a raster layer's non-zero pixels (nearest neighbour), the layer taken in its CRS
    as QGIS knows it."""
    return gdal_io.warp_mask(layer.source(), 1, grid, gdal_wkt(layer.crs()))


def _grid_extent_in(layer_crs, grid, grid_crs, context):
    """The grid's extent in ``layer_crs`` (to fetch only the features that may touch it), or None."""
    xmin, ymin, xmax, ymax = grid.bounds
    try:
        transform = QgsCoordinateTransform(grid_crs, layer_crs, context.transformContext())
        return transform.transformBoundingBox(QgsRectangle(xmin, ymin, xmax, ymax))
    except QgsCsException:
        return None


@dataclass
class Polygons:
    """Polygons of a layer in a grid's CRS: WKB, feature ids, and how many were repaired or skipped."""
    wkbs: list = field(default_factory=list)
    feature_ids: list = field(default_factory=list)
    repaired: int = 0
    skipped: int = 0


def polygons_on_grid(layer, parameter, grid, grid_crs, context, feedback, repair=False):
    """The layer's polygons that may touch ``grid``, transformed to ``grid_crs`` (invalid ones repaired with
    ``makeValid`` when ``repair``); raises a QgsProcessingException for a layer that is not polygons."""
    if layer.geometryType() != QgsWkbTypes.PolygonGeometry:
        raise QgsProcessingException(
            tr("%s: layer '%s' holds %s geometries; use polygons or a raster mask.") % (
                parameter, layer.name(), QgsWkbTypes.geometryDisplayString(layer.geometryType()).lower()))
    transform = QgsCoordinateTransform(layer.crs(), grid_crs, context.transformContext())
    request = QgsFeatureRequest().setNoAttributes()
    extent = _grid_extent_in(layer.crs(), grid, grid_crs, context)
    if extent is not None:
        request.setFilterRect(extent)
    polygons = Polygons()
    for feature in layer.getFeatures(request):
        if feedback.isCanceled():
            break
        geometry = feature.geometry()
        if geometry.isEmpty():
            continue
        if repair and not geometry.isGeosValid():
            geometry = geometry.makeValid()
            polygons.repaired += 1
        try:
            geometry.transform(transform)
        except QgsCsException:
            polygons.skipped += 1
            continue
        polygons.wkbs.append(geometry.asWkb())
        polygons.feature_ids.append(feature.id())
    if polygons.skipped:
        feedback.pushWarning(tr("%s: %d polygon(s) of '%s' could not be transformed to the target CRS and were "
                                "skipped.") % (parameter, polygons.skipped, layer.name()))
    return polygons


def _layer_mask(layer, parameter, sentinel2, context, feedback):
    if not layer.crs().isValid():
        raise QgsProcessingException(
            tr("%s: layer '%s' has no known coordinate reference system; assign one (Layer Properties > Source) "
               "so it can be placed on the image.") % (parameter, layer.name()))
    if layer.type() == QgsMapLayerType.VectorLayer:
        polygons = polygons_on_grid(layer, parameter, sentinel2.grid, sentinel2.crs, context, feedback)
        return gdal_io.rasterize_geometries(polygons.wkbs, sentinel2.grid)
    if layer.type() == QgsMapLayerType.RasterLayer and layer.providerType() == "gdal":
        try:
            return raster_layer_mask(layer, sentinel2.grid)
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
