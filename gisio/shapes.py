"""Shapes and pixels through GDAL/OGR alone (no QGIS, so region workers can use them): polygons burnt onto a grid
with the pixel-centre rule, pixels traced back into polygons, and polygon priors for the core drawn window by
window."""
import functools

import numpy as np
from osgeo import gdal, ogr, osr

from ..core.groups import PriorSource
from .raster import RasterGrid, memory_raster, window_grid

ogr.UseExceptions()


@functools.lru_cache(maxsize=16)
def _spatial_reference(crs_wkt):
    """The osr SpatialReference of a WKT (None for none), parsed once."""
    return osr.SpatialReference(wkt=crs_wkt) if crs_wkt else None


def _rasterize(wkb_geometries, grid, data_type, labelled):
    """Burn geometries (WKB, in the grid's CRS) onto a new raster of ``grid`` with the pixel-centre rule: 1 each,
    or i + 1 for geometry i when ``labelled`` (the later geometry wins where they overlap)."""
    srs = _spatial_reference(grid.crs_wkt)  # parsed once: parsing costs more than burning a small window
    target = memory_raster(RasterGrid(grid.width, grid.height, grid.geotransform, ""), data_type)
    if srs is not None:
        target.SetSpatialRef(srs)
    if wkb_geometries:
        source = ogr.GetDriverByName("Memory").CreateDataSource("geometries")
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


def pixel_box(envelope, geotransform):
    """The pixels (top, left, bottom, right; bottom and right exclusive) that may have their centre inside a
    geometry of OGR ``envelope`` (min x, max x, min y, max y) on a north-up grid of ``geotransform``."""
    x0, dx, _, y0, _, dy = geotransform
    columns = sorted(((envelope[0] - x0) / dx, (envelope[1] - x0) / dx))
    rows = sorted(((envelope[2] - y0) / dy, (envelope[3] - y0) / dy))
    return (int(np.floor(rows[0] - 0.5)), int(np.floor(columns[0] - 0.5)), int(np.ceil(rows[1] - 0.5)) + 1,
            int(np.ceil(columns[1] - 0.5)) + 1)


class PolygonPriors(PriorSource):
    """Prior polygons (WKB in the grid's CRS) as pieces for ``core.groups``: boxed by their envelopes and burnt
    (pixel-centre rule) only in the windows the core asks for."""

    def __init__(self, wkbs, grid, name=""):
        self.wkbs, self.grid, self.name = list(wkbs), grid, name
        self.boxes = np.array([pixel_box(ogr.CreateGeometryFromWkb(bytes(wkb)).GetEnvelope(), grid.geotransform)
                               for wkb in self.wkbs], np.int64).reshape(-1, 4)

    def render(self, window, members):
        return rasterize_geometries([self.wkbs[i] for i in members], window_grid(self.grid, window))
