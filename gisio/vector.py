"""Vectors: QGIS polygon layers onto a raster grid and back, through GDAL/OGR; ellipsoidal areas."""
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, ogr, osr
from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsCsException, QgsDistanceArea,
                       QgsFeatureRequest, QgsProcessingException, QgsRectangle, QgsWkbTypes)

from .messages import tr
from .raster import memory_raster, window_grid

ogr.UseExceptions()


def _rasterize(wkb_geometries, grid, data_type, labelled):
    """Burn geometries (WKB, in the grid's CRS) onto a new raster of ``grid`` with the pixel-centre rule: 1 each,
    or i + 1 for geometry i when ``labelled`` (the later geometry wins where they overlap)."""
    target = memory_raster(grid, data_type)
    if wkb_geometries:
        source = ogr.GetDriverByName("Memory").CreateDataSource("geometries")
        srs = osr.SpatialReference(wkt=grid.crs_wkt) if grid.crs_wkt else None
        layer = source.CreateLayer("geometries", srs, ogr.wkbUnknown)
        layer.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
        for label, wkb in enumerate(wkb_geometries, start=1):
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetField(0, label)
            feature.SetGeometry(ogr.CreateGeometryFromWkb(bytes(wkb)))
            layer.CreateFeature(feature)
        if labelled:
            gdal.RasterizeLayer(target, [1], layer, options=["ATTRIBUTE=label"])
        else:
            gdal.RasterizeLayer(target, [1], layer, burn_values=[1])
    band = target.GetRasterBand(1)
    return band.ReadAsArray()


def rasterize_geometries(wkb_geometries, grid):
    """Bool mask on ``grid`` of pixels whose centre lies inside any geometry (WKB, already in the grid's CRS)."""
    return _rasterize(wkb_geometries, grid, gdal.GDT_Byte, False) > 0


def rasterize_labels(wkb_geometries, grid):
    """int32 labels on ``grid``: geometry i (WKB, in the grid's CRS) burnt as i + 1 (pixel-centre rule); 0 = none.
    Where geometries overlap, the later one wins."""
    return _rasterize(wkb_geometries, grid, gdal.GDT_Int32, True).astype(np.int32, copy=False)


def polygonize_mask(mask, grid):
    """Outline of the True pixels of a bool mask as a WKB multipolygon in the grid's CRS (holes kept).

    Pixel edges are traced with 4-connectivity, so pixels joined only at corners become parts of the
    multipolygon that touch there.
    """
    raster = memory_raster(grid, gdal.GDT_Byte)
    band = raster.GetRasterBand(1)
    band.WriteArray(mask.astype(np.uint8))
    source = ogr.GetDriverByName("Memory").CreateDataSource("plant")
    layer = source.CreateLayer("plant", None, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0, [])
    outline = ogr.Geometry(ogr.wkbMultiPolygon)
    for feature in layer:
        outline.AddGeometry(feature.GetGeometryRef())
    return bytes(outline.ExportToWkb())


def polygonize_plants(labels, windows, grid):
    """WKB multipolygon of each plant: plant ``i + 1`` traced within ``windows[i]``, once, whatever its size."""
    for plant_id, window in enumerate(windows, start=1):
        yield polygonize_mask(labels[window] == plant_id, window_grid(grid, window))



def gdal_wkt(crs):
    """A QGIS CRS as the WKT GDAL prefers."""
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)


def ellipsoidal_area(crs, context):
    """A QgsDistanceArea measuring on the ellipsoid of ``crs`` (WGS 84 when the CRS names none)."""
    measure = QgsDistanceArea()
    measure.setSourceCrs(crs, context.transformContext())
    ellipsoid = crs.ellipsoidAcronym()
    measure.setEllipsoid(ellipsoid if ellipsoid and ellipsoid != "NONE" else "EPSG:7030")
    return measure


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
