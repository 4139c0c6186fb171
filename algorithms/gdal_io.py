"""The one place where Fusion PV Mapping reads and writes through GDAL/OGR.

Rasters are described by :class:`RasterGrid` (size, geotransform, CRS as WKT). Everything returned is a numpy array
or plain Python data, ready for :mod:`..core`.
"""
import os
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()


@dataclass
class RasterGrid:
    """Pixel grid of a raster: ``geotransform`` as GDAL gives it, ``crs_wkt`` the CRS."""
    width: int
    height: int
    geotransform: tuple
    crs_wkt: str

    @property
    def pixel_area(self):
        """Area of one pixel in CRS units squared."""
        a, b, _, d, e, _ = (self.geotransform[i] for i in (1, 2, 0, 4, 5, 3))
        return abs(a * e - b * d)

    @property
    def bounds(self):
        """(xmin, ymin, xmax, ymax) of a north-up grid."""
        x0, dx, _, y0, _, dy = self.geotransform
        xs = (x0, x0 + dx * self.width)
        ys = (y0, y0 + dy * self.height)
        return min(xs), min(ys), max(xs), max(ys)


@dataclass
class RasterInfo:
    """What a raster holds: its grid, band descriptions and per-band nodata (None = no nodata)."""
    grid: RasterGrid
    descriptions: list
    nodata: list


class RasterReadError(IOError):
    """A raster could not be opened or read."""


def _open(path):
    try:
        return gdal.Open(path, gdal.GA_ReadOnly)
    except RuntimeError as error:
        raise RasterReadError("GDAL cannot open %s: %s" % (path, error)) from error


def raster_info(path):
    """Grid, band descriptions and nodata values of the raster at ``path``."""
    dataset = _open(path)
    bands = [dataset.GetRasterBand(i + 1) for i in range(dataset.RasterCount)]
    grid = RasterGrid(dataset.RasterXSize, dataset.RasterYSize, tuple(dataset.GetGeoTransform()),
                      dataset.GetProjection())
    return RasterInfo(grid, [band.GetDescription() for band in bands], [band.GetNoDataValue() for band in bands])


def read_bands(path, band_numbers):
    """Arrays (native data type) of the 1-based ``band_numbers`` of the raster at ``path``."""
    dataset = _open(path)
    try:
        return [dataset.GetRasterBand(number).ReadAsArray() for number in band_numbers]
    except RuntimeError as error:
        raise RasterReadError("GDAL cannot read %s: %s" % (path, error)) from error


def _memory_raster(grid, data_type=gdal.GDT_Byte):
    dataset = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, data_type)
    dataset.SetGeoTransform(grid.geotransform)
    dataset.SetProjection(grid.crs_wkt)
    return dataset


def rasterize_geometries(wkb_geometries, grid):
    """Bool mask on ``grid`` of pixels whose centre lies inside any geometry (WKB, already in the grid's CRS)."""
    target = _memory_raster(grid)
    if wkb_geometries:
        source = ogr.GetDriverByName("Memory").CreateDataSource("priors")
        srs = osr.SpatialReference(wkt=grid.crs_wkt) if grid.crs_wkt else None
        layer = source.CreateLayer("priors", srs, ogr.wkbUnknown)
        for wkb in wkb_geometries:
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetGeometry(ogr.CreateGeometryFromWkb(bytes(wkb)))
            layer.CreateFeature(feature)
        gdal.RasterizeLayer(target, [1], layer, burn_values=[1])
    return target.GetRasterBand(1).ReadAsArray() > 0


def warp_mask(path, band_number, grid, source_crs_wkt=None):
    """Bool mask on ``grid`` of non-zero, non-nodata pixels of a raster, resampled by nearest neighbour."""
    # every dataset is held in a variable: GDAL frees a band with its dataset
    original = _open(path)
    source = gdal.Translate("", original, format="VRT", bandList=[band_number])
    nodata = source.GetRasterBand(1).GetNoDataValue()
    options = gdal.WarpOptions(format="MEM", outputBounds=grid.bounds, width=grid.width, height=grid.height,
                               dstSRS=grid.crs_wkt, srcSRS=source_crs_wkt or None, resampleAlg="near",
                               srcNodata=nodata, dstNodata=nodata if nodata is not None else 0,
                               outputType=gdal.GDT_Float64)
    warped = gdal.Warp("", source, options=options)
    values = warped.GetRasterBand(1).ReadAsArray()
    mask = np.isfinite(values) & (values != 0)
    if nodata is not None and np.isfinite(nodata):
        mask &= values != nodata
    return mask


def write_raster(path, array, grid, driver="GTiff", nodata=None, description=None):
    """Write a one-band raster atomically: to a temporary file beside ``path``, then renamed over it.

    A failure leaves no file at ``path`` that could be taken for a whole output.
    """
    data_type = gdal.GDT_Byte if array.dtype == np.uint8 else gdal.GDT_Float32
    folder = os.path.dirname(os.path.abspath(path))
    base, extension = os.path.splitext(os.path.basename(path))
    temporary = os.path.join(folder, ".%s.partial%s" % (base, extension))
    options = ["COMPRESS=DEFLATE", "TILED=YES"] if driver == "GTiff" else []
    try:
        dataset = gdal.GetDriverByName(driver).Create(temporary, grid.width, grid.height, 1, data_type,
                                                      options=options)
        dataset.SetGeoTransform(grid.geotransform)
        dataset.SetProjection(grid.crs_wkt)
        band = dataset.GetRasterBand(1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if description:
            band.SetDescription(description)
        band.WriteArray(array)
        dataset.FlushCache()
        dataset = band = None
        _replace_dataset(temporary, path, driver)
    except BaseException:
        _delete_dataset(temporary, driver)
        raise


def _delete_dataset(path, driver):
    if os.path.exists(path):
        gdal.GetDriverByName(driver).Delete(path)


def _replace_dataset(source, target, driver):
    """Move the dataset at ``source`` to ``target``, replacing what was there."""
    _delete_dataset(target, driver)
    gdal.GetDriverByName(driver).Rename(target, source)


def polygonize_labels(labels, grid):
    """Outline of each labelled region: {label: WKB multipolygon} in the grid's CRS, holes kept.

    Pixel edges are traced with 4-connectivity, so a region joined only at corners is a multipolygon of parts
    that touch at those corners.
    """
    raster = _memory_raster(grid, gdal.GDT_Int32)
    band = raster.GetRasterBand(1)
    band.WriteArray(labels.astype(np.int32, copy=False))
    source = ogr.GetDriverByName("Memory").CreateDataSource("plants")
    layer = source.CreateLayer("plants", None, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0, [])
    outlines = {}
    for feature in layer:
        label = feature.GetField(0)
        if label not in outlines:
            outlines[label] = ogr.Geometry(ogr.wkbMultiPolygon)
        outlines[label].AddGeometry(feature.GetGeometryRef())
    return {label: bytes(outline.ExportToWkb()) for label, outline in outlines.items()}
