"""Rasters through GDAL: grids, windowed band reading, warping, and atomic writing.

Rasters are described by :class:`RasterGrid` (size, geotransform, CRS as WKT). Everything returned is a numpy array
or plain Python data, ready for :mod:`..core`.
"""
import contextlib
import os
import re
import uuid
from dataclasses import dataclass

import numpy as np
from osgeo import gdal

from ..core.bandsource import BandSource
from ..core.ndpi import DEFAULT_OFFSET, DEFAULT_SCALE

gdal.UseExceptions()


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


def open_raster(path):
    """A read-only GDAL dataset, or :class:`RasterReadError` saying why it cannot be opened."""
    try:
        return gdal.Open(path, gdal.GA_ReadOnly)
    except RuntimeError as error:
        raise RasterReadError("GDAL cannot open %s: %s" % (path, error)) from error


def grid_of_dataset(dataset):
    """The :class:`RasterGrid` of an open dataset."""
    return RasterGrid(dataset.RasterXSize, dataset.RasterYSize, tuple(dataset.GetGeoTransform()),
                      dataset.GetProjection())


def raster_info(path):
    """Grid, band descriptions and nodata values of the raster at ``path``."""
    dataset = open_raster(path)
    bands = [dataset.GetRasterBand(i + 1) for i in range(dataset.RasterCount)]
    return RasterInfo(grid_of_dataset(dataset), [band.GetDescription() for band in bands],
                      [band.GetNoDataValue() for band in bands], dataset.GetMetadata() or {})


def band_nodata(path, band=1):
    """The nodata value of a band (None when it has none)."""
    dataset = open_raster(path)  # held while its band is used: GDAL frees bands with their dataset
    return dataset.GetRasterBand(band).GetNoDataValue()


def pixel_size(path):
    """Pixel width of a raster, in its CRS units."""
    return abs(open_raster(path).GetGeoTransform()[1])


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


def window_grid(grid, window):
    """The grid of a window (rows, cols slices) of ``grid``."""
    x0, dx, rx, y0, ry, dy = grid.geotransform
    rows, cols = window
    origin = (x0 + cols.start * dx + rows.start * rx, y0 + cols.start * ry + rows.start * dy)
    return RasterGrid(cols.stop - cols.start, rows.stop - rows.start, (origin[0], dx, rx, origin[1], ry, dy),
                      grid.crs_wkt)


#: GDAL block cache (MiB) while prior groups are read one by one in raster order: about two rows of 512-pixel
#: blocks of an 11-band tile, so that each block is read once.
GROUP_READ_CACHE_MB = 256


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


#: Rows of an uncompressed GeoTIFF read through one memory mapping: the mapping is let go when reads move on to
#: the next band of this many rows, so that the file pages a reader touched do not pile up in its memory.
MAPPED_ROWS = 512


def open_mapped(path):
    """(dataset, mapped): ``path`` opened for reading; an uncompressed GeoTIFF is read through a memory mapping of
    the file (GDAL's ``GTIFF_VIRTUAL_MEM_IO``: no block cache, no copy of the other bands of pixel-interleaved
    blocks), which makes small windows several times faster to read."""
    gdal.SetThreadLocalConfigOption("GTIFF_VIRTUAL_MEM_IO", "YES")  # GDAL reads it when the file opens
    try:
        dataset = open_raster(path)
    finally:
        gdal.SetThreadLocalConfigOption("GTIFF_VIRTUAL_MEM_IO", None)
    mapped = dataset.GetDriver().ShortName == "GTiff" and \
        dataset.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") is None
    return dataset, mapped


class GdalBands(BandSource):
    """A band source (see ``core.bandsource``) reading windows of the role bands of a raster file on demand;
    reflectance = (DN + ``offset``) / ``scale``. An uncompressed GeoTIFF is read through a memory mapping, renewed
    every :data:`MAPPED_ROWS` rows (see :func:`open_mapped`)."""

    def __init__(self, path, band_number_by_role, nodata_by_role, scale=DEFAULT_SCALE, offset=DEFAULT_OFFSET):
        self.dataset, self.mapped = open_mapped(path)
        self.mapped_rows = 0  # the band of MAPPED_ROWS rows read through the current mapping
        self.roles = list(band_number_by_role)
        self.band_list = [band_number_by_role[role] for role in self.roles]
        self.shape = (self.dataset.RasterYSize, self.dataset.RasterXSize)
        columns, rows = self.dataset.GetRasterBand(self.band_list[0]).GetBlockSize()
        self.block_shape = (rows, columns)
        self.nodata_by_role = dict(nodata_by_role)
        self.scale, self.offset = scale, offset
        self.path = path

    def clone(self):
        """The same band source on a new dataset handle, for another thread."""
        return GdalBands(self.path, dict(zip(self.roles, self.band_list)), self.nodata_by_role, self.scale,
                         self.offset)

    def read(self, rows, cols):
        """DN arrays keyed by role for the window (rows, cols) given as slices."""
        if self.mapped and rows.start // MAPPED_ROWS != self.mapped_rows:
            self.dataset = None  # closing the dataset unmaps the pages read so far
            self.dataset, _ = open_mapped(self.path)
            self.mapped_rows = rows.start // MAPPED_ROWS
        return dict(zip(self.roles, read_bands(self.dataset, self.path, self.band_list, rows, cols)))


def read_bands(dataset, path, band_list, rows, cols):
    """Bands ``band_list`` (1-based) of an open dataset for the window (rows, cols) given as slices: a (bands,
    rows, cols) array; :class:`RasterReadError` naming ``path`` when GDAL cannot read it."""
    try:
        stack = dataset.ReadAsArray(int(cols.start), int(rows.start), int(cols.stop - cols.start),
                                    int(rows.stop - rows.start), band_list=band_list)
    except RuntimeError as error:
        raise RasterReadError("GDAL cannot read %s: %s" % (path, error)) from error
    return stack[None] if stack.ndim == 2 else stack


class BandWindows:
    """Windows of chosen bands of a raster as float32 (bands, rows, cols) with a validity mask: a pixel is valid
    where every chosen band is finite and not its nodata value."""

    def __init__(self, path, band_numbers):
        self.dataset = open_raster(path)
        self.path, self.band_numbers = path, [int(number) for number in band_numbers]
        self.nodata = [self.dataset.GetRasterBand(number).GetNoDataValue() for number in self.band_numbers]
        self.shape = (self.dataset.RasterYSize, self.dataset.RasterXSize)

    def read(self, rows, cols):
        """(values, valid) of the window (rows, cols) given as slices."""
        values = read_bands(self.dataset, self.path, self.band_numbers, rows, cols).astype(np.float32)
        valid = np.isfinite(values).all(axis=0)
        for band, nodata in zip(values, self.nodata):
            if nodata is not None:
                valid &= band != np.float32(nodata)
        return values, valid


def read_dataset_rows(dataset, rows, band=None):
    """The rows ``rows`` (slice) of one band (1-based number) or of all bands (None) of an open dataset: a
    (bands, rows, cols) array."""
    height = int(rows.stop - rows.start)
    try:
        if band is not None:
            return dataset.GetRasterBand(band).ReadAsArray(0, int(rows.start), dataset.RasterXSize, height)[None]
        array = dataset.ReadAsArray(0, int(rows.start), dataset.RasterXSize, height)
    except RuntimeError as error:
        raise RasterReadError("GDAL cannot read %s: %s" % (dataset.GetDescription(), error)) from error
    return array[None] if array.ndim == 2 else array


def memory_raster(grid, data_type=gdal.GDT_Byte):
    """An empty one-band in-memory raster on ``grid``."""
    dataset = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, data_type)
    dataset.SetGeoTransform(grid.geotransform)
    if grid.crs_wkt:
        dataset.SetProjection(grid.crs_wkt)
    return dataset


#: A pixel of a floating-point prior raster (a probability) is PV from this value up.
PV_PROBABILITY = 0.5


#: Dataset metadata item naming a raster prior in the plants' ``sources`` (runmodel writes "<model> (probability)"
#: on its probabilities, whose file Processing names after the output, e.g. OUTPUT_PROBABILITIES.tif).
PRIOR_NAME_KEY = "FUSIONPV_PRIOR_NAME"


def prior_name(path, layer_name):
    """The name of the raster prior at ``path`` in the plants' sources: its :data:`PRIOR_NAME_KEY`, else
    ``layer_name``."""
    return raster_info(path).metadata.get(PRIOR_NAME_KEY) or layer_name


def pv_band_number(path):
    """The band of a prior raster that holds PV: the band described 'PV' (a model's probability output), else 1."""
    info = raster_info(path)
    return next((number for number, description in enumerate(info.descriptions, start=1)
                 if description.strip().upper() == "PV"), 1)


def warp_mask(path, band_number, grid, source_crs_wkt=None):
    """Bool mask on ``grid`` of the PV pixels of a raster band, resampled by nearest neighbour: non-zero pixels of
    an integer band, pixels ≥ :data:`PV_PROBABILITY` of a floating-point band; nodata is never PV."""
    # every dataset is held in a variable: GDAL frees a band with its dataset
    original = open_raster(path)
    source = gdal.Translate("", original, format="VRT", bandList=[band_number])
    band = source.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    is_float = band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64)
    options = gdal.WarpOptions(format="MEM", outputBounds=grid.bounds, width=grid.width, height=grid.height,
                               dstSRS=grid.crs_wkt, srcSRS=source_crs_wkt or None, resampleAlg="near",
                               srcNodata=nodata, dstNodata=float("nan"), outputType=gdal.GDT_Float64)
    warped = gdal.Warp("", source, options=options)
    values = warped.GetRasterBand(1).ReadAsArray()
    # NaN marks nodata and pixels the raster does not reach: a finite destination nodata (0) would make GDAL ≥ 3.11
    # move real zeros off it (to 4.9e-324), turning every non-PV pixel into PV
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & ((values >= PV_PROBABILITY) if is_float else (values != 0))


def warped_band(path, grid, resampling, source_nodata):
    """A virtual (VRT) one-band dataset of the raster at ``path`` on ``grid``, with GDAL resampling
    ``resampling`` ("near", "average"…); ``source_nodata`` is kept as nodata."""
    options = gdal.WarpOptions(format="VRT", outputBounds=grid.bounds, width=grid.width, height=grid.height,
                               dstSRS=grid.crs_wkt, resampleAlg=resampling, srcNodata=source_nodata,
                               dstNodata=source_nodata)
    return gdal.Warp("", open_raster(path), options=options)


def on_grid(path, grid, crs_wkt=None, resampling="near", data_type=gdal.GDT_Float64):
    """A virtual dataset of every band of the raster at ``path`` on ``grid``, resampled with ``resampling``, as
    ``data_type`` that is NaN where the raster is nodata or does not reach; ``crs_wkt`` overrides the raster's own
    CRS (as QGIS knows it)."""
    source = open_raster(path)
    nodata = source.GetRasterBand(1).GetNoDataValue()
    options = gdal.WarpOptions(format="VRT", outputBounds=grid.bounds, width=grid.width, height=grid.height,
                               dstSRS=grid.crs_wkt, srcSRS=crs_wkt or None, resampleAlg=resampling,
                               srcNodata=nodata, dstNodata=float("nan"), outputType=data_type)
    return gdal.Warp("", source, options=options)


#: Bytes of a file name (Linux, macOS, Windows), and what GDAL may add to it for a side-car (".aux.xml").
NAME_MAX_BYTES = 255
SIDE_CAR_BYTES = len(".aux.xml")


def temporary_path(path):
    """A hidden, unique name beside ``path`` for writing what will become ``path``, short enough for the file
    system however long ``path``'s name is. Partial files of ``path`` left by a run that was killed are removed
    first: this run writes ``path`` anew."""
    folder = os.path.dirname(os.path.abspath(path))
    base, extension = os.path.splitext(os.path.basename(path))
    room = NAME_MAX_BYTES - SIDE_CAR_BYTES - len((".%s.%s.partial%s" % ("", "0" * 8, extension)).encode("utf-8"))
    base = base.encode("utf-8")[:max(room, 1)].decode("utf-8", "ignore")
    stale = re.compile(r"\.%s\.[0-9a-f]{8}\.partial%s$" % (re.escape(base), re.escape(extension)))
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if stale.match(name):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))
    return os.path.join(folder, ".%s.%s.partial%s" % (base, uuid.uuid4().hex[:8], extension))


def delete_dataset(path, driver):
    """Remove a dataset (with its side-car files) when it exists."""
    if os.path.exists(path):
        gdal.GetDriverByName(driver).Delete(path)


def move_dataset(source, target, driver):
    """Move the dataset at ``source`` to ``target``, replacing what was there."""
    delete_dataset(target, driver)
    gdal.GetDriverByName(driver).Rename(target, source)


_GDAL_TYPES = {np.dtype(np.uint8): gdal.GDT_Byte, np.dtype(np.float32): gdal.GDT_Float32,
               np.dtype(np.int16): gdal.GDT_Int16, np.dtype(np.uint16): gdal.GDT_UInt16}


class RasterWriter:
    """A raster written window by window to a temporary file beside ``path`` and moved onto ``path`` only when the
    ``with`` block ends without an error; on an error the temporary file is removed and ``path`` is untouched.
    With a ``stage`` (``gisio.outputs.StagedOutputs``) the finished file waits there for the other outputs of the run.

    ``descriptions`` names the bands (one band when None), ``metadata`` is written as dataset metadata,
    ``categories`` ([(name, '#rrggbb'), …] by value) gives band 1 category names and a colour table. The writer
    counts the nodata pixels it writes (see :meth:`nodata_shares`).
    """

    def __init__(self, path, grid, data_type, driver="GTiff", nodata=None, description=None, descriptions=None,
                 metadata=None, stage=None, categories=None):
        self.path, self.driver, self.stage, self.nodata, self.metadata = path, driver, stage, nodata, metadata
        self.temporary = temporary_path(path)
        descriptions = list(descriptions) if descriptions else [description]
        self.descriptions = descriptions
        self.nodata_pixels = [0] * len(descriptions)
        self.band_pixels = grid.width * grid.height
        options = ["COMPRESS=DEFLATE", "TILED=YES", "BIGTIFF=IF_SAFER"] if driver == "GTiff" else []
        if driver == "GTiff" and len(descriptions) > 1:
            options += ["INTERLEAVE=BAND", "PHOTOMETRIC=MINISBLACK"]  # bands, not red, green, blue and alpha
        self.dataset = gdal.GetDriverByName(driver).Create(self.temporary, grid.width, grid.height,
                                                           len(descriptions), _GDAL_TYPES[np.dtype(data_type)],
                                                           options=options)
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
        if categories:
            set_categories(self.dataset.GetRasterBand(1), categories)

    def __enter__(self):
        return self

    def __exit__(self, error_type, error, traceback):
        if error_type is None:
            self.commit()
        else:
            self.discard()
        return False

    def write(self, array, rows=slice(0, None), cols=slice(0, None), band=1):
        """Write ``array`` into band ``band`` at the window's top-left corner."""
        self.dataset.GetRasterBand(band).WriteArray(array, int(cols.start or 0), int(rows.start or 0))
        if self.nodata is not None:
            missing = np.isnan(array) if np.isnan(self.nodata) else array == self.nodata
            self.nodata_pixels[band - 1] += int(np.count_nonzero(missing))

    def read(self, rows, cols, band=1):
        """What band ``band`` holds so far in the window (rows, cols) given as slices (0 where nothing was
        written)."""
        return self.dataset.GetRasterBand(band).ReadAsArray(int(cols.start), int(rows.start),
                                                            int(cols.stop - cols.start), int(rows.stop - rows.start))

    def write_bands(self, stack, rows=slice(0, None), cols=slice(0, None)):
        """Write a (bands, rows, cols) ``stack`` into bands 1… at the window's top-left corner."""
        for band, values in enumerate(stack, start=1):
            self.write(values, rows, cols, band)

    def nodata_shares(self):
        """(band description, share of its pixels written as nodata) for every band."""
        return [(name or "band %d" % number, count / max(self.band_pixels, 1))
                for number, (name, count) in enumerate(zip(self.descriptions, self.nodata_pixels), start=1)]

    def commit(self):
        """Close the temporary file and move it onto ``path`` (or hand it to the stage)."""
        self.dataset.FlushCache()
        self.dataset = None
        if self.stage is not None:
            self.stage.raster(self.temporary, self.path, self.driver)
        else:
            move_dataset(self.temporary, self.path, self.driver)

    def discard(self):
        """Close and remove the temporary file."""
        self.dataset = None
        delete_dataset(self.temporary, self.driver)


def set_categories(band, categories):
    """Category names and a colour table on a class band: ``categories`` is [(name, '#rrggbb'), …] by value."""
    table = gdal.ColorTable()
    for value, (_, colour) in enumerate(categories):
        table.SetColorEntry(value, tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5)) + (255,))
    band.SetColorTable(table)
    band.SetCategoryNames([name for name, _ in categories])


def category_names(path):
    """The class names of band 1 of a raster ([] when it has none)."""
    dataset = open_raster(path)
    band = dataset.GetRasterBand(1)
    band.GetDescription()  # GDAL 3.6's GeoTIFF driver loads the .aux.xml names only once another property is read
    return list(band.GetCategoryNames() or [])


def write_windows_mask(path, windows, masks, grid, driver="GTiff", description=None, stage=None):
    """Write atomically a one-band uint8 raster that is 1 where any bool mask of ``masks`` (each in its window of
    ``windows``, which may overlap) is True, 0 elsewhere."""
    with RasterWriter(path, grid, np.uint8, driver, None, description, stage=stage) as writer:
        for (rows, cols), mask in zip(windows, masks):
            writer.write(writer.read(rows, cols) | mask.astype(np.uint8), rows, cols)


