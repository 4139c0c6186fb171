"""Vectors: QGIS polygon layers onto a raster grid, ellipsoidal areas (rasterising and polygonising, which need
GDAL only, are in :mod:`.shapes`)."""
from dataclasses import dataclass, field

from osgeo import osr
from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsCsException, QgsDistanceArea,
                       QgsFeatureRequest, QgsGeometry, QgsProcessingException, QgsRectangle, QgsWkbTypes)

from .messages import tr


def gdal_wkt(crs):
    """A QGIS CRS as the WKT GDAL prefers."""
    return crs.toWkt(QgsCoordinateReferenceSystem.WktVariant.WKT_PREFERRED_GDAL)


def holds_plant_polygons(crs):
    """Can plant polygons be drawn in ``crs``: a valid projected or geographic CRS (not geocentric XYZ)?"""
    if not crs.isValid():
        return False
    reference = osr.SpatialReference()
    return reference.ImportFromWkt(gdal_wkt(crs)) == 0 and bool(reference.IsProjected() or reference.IsGeographic())


def ellipsoidal_area(crs, context):
    """A QgsDistanceArea measuring on the ellipsoid of ``crs`` (WGS 84 when the CRS names none)."""
    measure = QgsDistanceArea()
    measure.setSourceCrs(crs, context.transformContext())
    ellipsoid = crs.ellipsoidAcronym()
    measure.setEllipsoid(ellipsoid if ellipsoid and ellipsoid != "NONE" else "EPSG:7030")
    return measure


class InCrs:
    """Geometries given as WKB in the CRS of their tile (its WKT) as ``QgsGeometry`` in ``crs``: one
    transformation per tile CRS."""

    def __init__(self, crs, context):
        self.crs, self.context, self.transforms = crs, context, {}

    def geometry(self, wkb, crs_wkt):
        if crs_wkt not in self.transforms:
            self.transforms[crs_wkt] = QgsCoordinateTransform(QgsCoordinateReferenceSystem.fromWkt(crs_wkt),
                                                              self.crs, self.context.transformContext())
        geometry = QgsGeometry()
        geometry.fromWkb(wkb)
        geometry.transform(self.transforms[crs_wkt])
        return geometry


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
    if layer.geometryType() != QgsWkbTypes.GeometryType.PolygonGeometry:
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
        if QgsWkbTypes.isCurvedType(geometry.wkbType()):
            geometry.convertToStraightSegment()  # circles and arcs: GDAL rasterises linear rings only
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
