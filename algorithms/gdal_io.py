"""The one place where Fusion PV Mapping reads and writes through GDAL/OGR.

Rasters are described by :class:`RasterGrid` (size, geotransform, CRS as WKT). Everything returned is a numpy array
or plain Python data, ready for :mod:`..core`.
"""
import os
import re
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
    """What a raster holds: its grid, band descriptions, per-band nodata (None = no nodata), dataset metadata."""
    grid: RasterGrid
    descriptions: list
    nodata: list
    metadata: dict


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
    return RasterInfo(grid, [band.GetDescription() for band in bands], [band.GetNoDataValue() for band in bands],
                      dataset.GetMetadata() or {})


class SmallBlockCache:
    """Context manager that lowers GDAL's block cache to ``megabytes`` while a full raster is read window by
    window (each window is read once, so a large cache only costs memory), and restores it afterwards."""

    def __init__(self, megabytes=64):
        self.limit = megabytes * 1024 * 1024

    def __enter__(self):
        self.previous = gdal.GetCacheMax()
        gdal.SetCacheMax(min(self.previous, self.limit))
        return self

    def __exit__(self, *exc):
        gdal.SetCacheMax(self.previous)
        return False


class GdalBands:
    """A band source (see ``core.bandsource``) reading windows of the role bands of a raster file on demand."""

    def __init__(self, path, band_number_by_role, nodata_by_role):
        self.dataset = _open(path)
        self.roles = list(band_number_by_role)
        self.band_list = [band_number_by_role[role] for role in self.roles]
        self.shape = (self.dataset.RasterYSize, self.dataset.RasterXSize)
        columns, rows = self.dataset.GetRasterBand(self.band_list[0]).GetBlockSize()
        self.block_shape = (rows, columns)
        self.nodata_by_role = dict(nodata_by_role)
        self.path = path

    def clone(self):
        """The same band source on a new dataset handle, for another thread."""
        return GdalBands(self.path, dict(zip(self.roles, self.band_list)), self.nodata_by_role)

    def read(self, rows, cols):
        """DN arrays keyed by role for the window (rows, cols) given as slices."""
        try:
            stack = self.dataset.ReadAsArray(int(cols.start), int(rows.start), int(cols.stop - cols.start),
                                             int(rows.stop - rows.start), band_list=self.band_list)
        except RuntimeError as error:
            raise RasterReadError("GDAL cannot read %s: %s" % (self.path, error)) from error
        if stack.ndim == 2:
            stack = stack[None]
        return dict(zip(self.roles, stack))


def _memory_raster(grid, data_type=gdal.GDT_Byte):
    dataset = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, data_type)
    dataset.SetGeoTransform(grid.geotransform)
    dataset.SetProjection(grid.crs_wkt)
    return dataset


def _rasterize(wkb_geometries, grid, data_type, labelled):
    """Burn geometries (WKB, in the grid's CRS) onto a new raster of ``grid`` with the pixel-centre rule: 1 each,
    or i + 1 for geometry i when ``labelled`` (the later geometry wins where they overlap)."""
    target = _memory_raster(grid, data_type)
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


def _delete_dataset(path, driver):
    if os.path.exists(path):
        gdal.GetDriverByName(driver).Delete(path)


def _replace_dataset(source, target, driver):
    """Move the dataset at ``source`` to ``target``, replacing what was there."""
    _delete_dataset(target, driver)
    gdal.GetDriverByName(driver).Rename(target, source)


def window_grid(grid, window):
    """The grid of a window (rows, cols slices) of ``grid``."""
    x0, dx, rx, y0, ry, dy = grid.geotransform
    rows, cols = window
    origin = (x0 + cols.start * dx + rows.start * rx, y0 + cols.start * ry + rows.start * dy)
    return RasterGrid(cols.stop - cols.start, rows.stop - rows.start, (origin[0], dx, rx, origin[1], ry, dy),
                      grid.crs_wkt)


def polygonize_mask(mask, grid):
    """Outline of the True pixels of a bool mask as a WKB multipolygon in the grid's CRS (holes kept).

    Pixel edges are traced with 4-connectivity, so pixels joined only at corners become parts of the
    multipolygon that touch there.
    """
    raster = _memory_raster(grid, gdal.GDT_Byte)
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


class RasterWriter:
    """A raster written window by window to a temporary file, renamed over ``path`` by :meth:`commit`.

    Until then nothing exists at ``path``; :meth:`discard` removes the temporary file. ``descriptions`` names the
    bands (one band when None), ``metadata`` is written as dataset metadata.
    """

    def __init__(self, path, grid, data_type, driver="GTiff", nodata=None, description=None, descriptions=None,
                 metadata=None):
        folder = os.path.dirname(os.path.abspath(path))
        base, extension = os.path.splitext(os.path.basename(path))
        self.path, self.driver = path, driver
        self.temporary = os.path.join(folder, ".%s.partial%s" % (base, extension))
        descriptions = list(descriptions) if descriptions else [description]
        options = ["COMPRESS=DEFLATE", "TILED=YES", "BIGTIFF=IF_SAFER"] if driver == "GTiff" else []
        if driver == "GTiff" and len(descriptions) > 1:
            options.append("INTERLEAVE=BAND")
        gdal_type = {np.dtype(np.uint8): gdal.GDT_Byte, np.dtype(np.float32): gdal.GDT_Float32,
                     np.dtype(np.int16): gdal.GDT_Int16, np.dtype(np.uint16): gdal.GDT_UInt16}[np.dtype(data_type)]
        self.dataset = gdal.GetDriverByName(driver).Create(self.temporary, grid.width, grid.height,
                                                           len(descriptions), gdal_type, options=options)
        self.dataset.SetGeoTransform(grid.geotransform)
        self.dataset.SetProjection(grid.crs_wkt)
        if metadata:
            self.dataset.SetMetadata({str(k): str(v) for k, v in metadata.items()})
        for number, name in enumerate(descriptions, start=1):
            band = self.dataset.GetRasterBand(number)
            if nodata is not None:
                band.SetNoDataValue(nodata)
            if name:
                band.SetDescription(name)
        self.band = self.dataset.GetRasterBand(1)

    def write(self, array, rows=slice(0, None), cols=slice(0, None), band=1):
        """Write ``array`` into band ``band`` at the window's top-left corner."""
        self.dataset.GetRasterBand(band).WriteArray(array, int(cols.start or 0), int(rows.start or 0))

    def commit(self):
        self.dataset.FlushCache()
        self.band = self.dataset = None
        _replace_dataset(self.temporary, self.path, self.driver)

    def discard(self):
        self.band = self.dataset = None
        _delete_dataset(self.temporary, self.driver)


def write_raster(path, array, grid, driver="GTiff", nodata=None, description=None):
    """Write a one-band raster atomically (see :class:`RasterWriter`)."""
    writer = RasterWriter(path, grid, array.dtype, driver, nodata, description)
    try:
        writer.write(array)
        writer.commit()
    except BaseException:
        writer.discard()
        raise


# --- Sentinel-2 products, band folders and time series -------------------------------------------------------------

RASTER_EXTENSIONS = (".jp2", ".tif", ".tiff", ".img", ".vrt")


def _walk(path):
    """Every file below a folder or a ``/vsizip/`` path (GDAL paths)."""
    entries = gdal.ReadDirRecursive(path) or []
    return [path.rstrip("/") + "/" + entry for entry in entries if not entry.endswith("/")]


def product_files(path):
    """(raster files, metadata XML text or None) of a SAFE folder, a SAFE ``.zip``, an ``MTD_MSIL*.xml`` or a folder
    of single-band files. Raster paths are GDAL paths (``/vsizip/…`` inside a zip)."""
    if path.lower().endswith(".zip"):
        root = "/vsizip/" + os.path.abspath(path)
    elif path.lower().endswith(".xml"):
        root = os.path.dirname(os.path.abspath(path))
    else:
        root = os.path.abspath(path)
    files = _walk(root) if root.startswith("/vsizip/") else [
        os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]
    metadata = None
    for name in files:
        if re.search(r"MTD_MSIL(1C|2A)\.xml$", name):
            handle = gdal.VSIFOpenL(name, "rb")
            if handle is not None:
                try:
                    metadata = gdal.VSIFReadL(1, gdal.VSIStatL(name).size, handle).decode("utf-8")
                finally:
                    gdal.VSIFCloseL(handle)
            break
    rasters = [name for name in files if name.lower().endswith(RASTER_EXTENSIONS)
               and "/QI_DATA/" not in name and "/AUX_DATA/" not in name and "_TCI" not in name.upper()]
    return rasters, metadata


def band_nodata(path, band=1):
    """The nodata value of a band (None when it has none)."""
    dataset = _open(path)
    return dataset.GetRasterBand(band).GetNoDataValue()


def pixel_size(path):
    """Pixel width of a raster, in its CRS units."""
    dataset = _open(path)
    return abs(dataset.GetGeoTransform()[1])


def grid_of(path, resolution=None, bounds=None):
    """The grid of a raster, or a grid in its CRS with another ``resolution`` and/or ``bounds`` (xmin, ymin, xmax,
    ymax), snapped to the raster's pixel corners."""
    info = raster_info(path).grid
    if resolution is None and bounds is None:
        return info
    x0, dx, _, y0, _, dy = info.geotransform
    resolution = resolution or abs(dx)
    xmin, ymin, xmax, ymax = bounds or info.bounds
    xmin = x0 + np.floor((xmin - x0) / resolution) * resolution
    ymax = y0 - np.floor((y0 - ymax) / resolution) * resolution
    width = max(1, int(np.ceil((xmax - xmin) / resolution - 1e-9)))
    height = max(1, int(np.ceil((ymax - ymin) / resolution - 1e-9)))
    return RasterGrid(width, height, (xmin, resolution, 0.0, ymax, 0.0, -resolution), info.crs_wkt)


def warped_band(path, grid, resampling):
    """A virtual (VRT) one-band dataset of the raster at ``path`` on ``grid``, with GDAL resampling
    ``resampling`` ("near", "average"…); source nodata 0, the Sentinel-2 fill value."""
    options = gdal.WarpOptions(format="VRT", outputBounds=grid.bounds, width=grid.width, height=grid.height,
                               dstSRS=grid.crs_wkt, resampleAlg=resampling, srcNodata=0, dstNodata=0)
    return gdal.Warp("", _open(path), options=options)


def netcdf_time_series(path):
    """The variables (subdatasets) of an openEO netCDF time series: {name: GDAL path}, the grid, and the time
    values of its bands (from ``NETCDF_DIM_t``) with their units."""
    dataset = _open(path)
    variables = {}
    for name, _ in dataset.GetSubDatasets():
        variables[name.rsplit(":", 1)[-1]] = name
    if not variables:
        raise RasterReadError("%s holds no netCDF variables." % path)
    first = _open(next(iter(variables.values())))
    times = [float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t") or "nan")
             for i in range(first.RasterCount)]
    units = first.GetMetadataItem("t#units") or ""
    grid = RasterGrid(first.RasterXSize, first.RasterYSize, tuple(first.GetGeoTransform()), first.GetProjection())
    return variables, grid, times, units


def read_rows(path, rows, band=None):
    """The rows ``rows`` (slice) of one band (1-based number) or of all bands (None): a (bands, rows, cols) array.
    The bands of a netCDF variable are its time steps."""
    dataset = _open(path)
    height = int(rows.stop - rows.start)
    if band is not None:
        return dataset.GetRasterBand(band).ReadAsArray(0, int(rows.start), dataset.RasterXSize, height)[None]
    array = dataset.ReadAsArray(0, int(rows.start), dataset.RasterXSize, height)
    return array[None] if array.ndim == 2 else array
