"""Sentinel-2 L2A items of a STAC catalogue as a time series (GDAL and numpy only, no QGIS): the asset of each role
band and SCL, the BOA offset of each item, its pixel grid, and windows of its Cloud-Optimised GeoTIFFs read over
HTTP (``/vsicurl/``) or from local files, with GDAL's HTTP settings set around the reads only.

What the plugin trusts for the BOA offset (DN = reflectance × 10000 − offset; ESA adds 1000 from processing
baseline 04.00 on, 25 January 2022), item by item:

1. an asset's ``raster:bands`` ``offset`` and ``scale`` (Earth Search ``sentinel-2-c1-l2a``): DN offset =
   −offset / scale; but not on an item that also says whether the offset was removed (Earth Search
   ``sentinel-2-l2a``, whose ``raster:bands`` say −0.1 whether or not it was: its issues 66 and 71);
2. a processing baseline before 04.00: no offset;
3. otherwise the pixels (:func:`offset_on_pixels`): Earth Search ``sentinel-2-l2a`` says in
   ``earthsearch:boa_offset_applied`` (formerly ``sentinel:boa_offset_applied``) whether it removed the offset,
   and that flag is wrong on some items, both ways (Earth Search issues 66 and 71, cirrus-earth-search issue 33);
   Planetary Computer keeps the offset and says nothing. Vegetation is dark in blue: on
   the 221 dates of the real Austrian 2022 series with at least :data:`MIN_VEGETATION_PIXELS` clear vegetation
   pixels, the median blue DN of vegetation (SCL 4) lies between −96 and 810 (1st–99th percentile 77–764) without
   the offset, so between 904 and 1810 with it. A median from :data:`OFFSET_FROM` on says the offset is in the DN,
   one below :data:`HARMONISED_BELOW` says it is not; between the two, or with too few vegetation pixels, the
   metadata is used and the log says so. A disagreement with the metadata is warned of.
"""
import datetime
import json
import math
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, osr

from ..core.s2_products import BASELINE_04_OFFSET, FILL_DN, STACK_NODATA, stack_dn
from .raster import RasterGrid, RasterReadError, open_raster
from .sas import SasError, without_tokens
from ..core.windows import READ_TARGET
from .series import TimeSeries

gdal.UseExceptions()

#: Asset keys of each band, as catalogues name them: Earth Search (common names) first, then band names.
#: What GDAL fetches first of a file it opens over HTTP (``CPL_VSIL_CURL_CHUNK_SIZE``): its header.
HEADER_BYTES = 16384
ASSET_KEYS = {"B02": ("blue", "B02", "b02"), "B03": ("green", "B03", "b03"), "B04": ("red", "B04", "b04"),
              "B08": ("nir", "B08", "b08"), "B11": ("swir16", "B11", "b11"), "B12": ("swir22", "B12", "b12"),
              "SCL": ("scl", "SCL")}
#: The band whose asset gives an item's 10 m pixel grid.
GRID_BAND = "B04"
#: Earth Search's word on whether it removed the offset (the older name first used, then the current one).
OFFSET_FLAGS = ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")
#: DN added to every band of L2A products from processing baseline 04.00 on (ESA).
BOA_ADD = -BASELINE_04_OFFSET
#: The pixel rule: the SCL class of vegetation, the fewest vegetation pixels it needs, and the median blue DN of
#: vegetation from which the offset is in the DN, and below which it is not (in between: undecided).
VEGETATION_CLASS = 4
MIN_VEGETATION_PIXELS = 100
OFFSET_FROM = 950
HARMONISED_BELOW = 800
#: The largest DN offset metadata may give (ESA's is 1000).
MAX_DN_OFFSET = 2 * BOA_ADD
#: The largest side (pixels) of an item's grid that metadata may give (a Sentinel-2 tile is 10980 at 10 m).
MAX_GRID_SIDE = 100000
#: Largest side (pixels) of the overview read for the pixel rule.
RULE_OVERVIEW_SIDE = 512

#: GDAL settings around the reads of remote COGs (as mature COG readers set them): no directory listing on open,
#: multi-range requests with consecutive ranges merged, retries with back-off, timeouts, bounded caches; and GDAL's
#: count of what was fetched.
HTTP_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(32 * 1024 * 1024),
    "CPL_VSIL_CURL_CACHE_SIZE": str(64 * 1024 * 1024),
    "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",
}
#: A series whose reads failed for more than this share of them stops the job, even when each file is missing or
#: broken for good (the catalogue is not usable there).
MAX_FAILED_SHARE = 0.5
#: HTTP statuses of a read that a rerun would repeat: the file is not there, or not for us.
PERMANENT_STATUSES = (400, 401, 403, 404, 410)
#: Seconds the check of a failed read's server may take.
PROBE_SECONDS = 15


class ItemCollectionError(ValueError):
    """An ItemCollection file or one of its items cannot be used (the message says which and why)."""


def read_item_collection(path):
    """The items (STAC Item dicts) of an ItemCollection file (a GeoJSON FeatureCollection of items)."""
    try:
        with open(path, encoding="utf-8") as stream:
            collection = json.load(stream)
    except (OSError, ValueError) as error:
        raise ItemCollectionError("%s is not a JSON file: %s" % (path, error)) from error
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection" \
            or not isinstance(collection.get("features"), list):
        raise ItemCollectionError("%s is not a STAC ItemCollection (a FeatureCollection of items)." % path)
    if not collection["features"]:
        raise ItemCollectionError("%s holds no items." % path)
    odd = [number for number, item in enumerate(collection["features"]) if not isinstance(item, dict)]
    if odd:
        raise ItemCollectionError("%s: %d of its features are not STAC items (objects), the first at position %d."
                                  % (path, len(odd), odd[0]))
    return collection["features"]


def is_item_collection(path):
    """True when ``path`` names a JSON file (an ItemCollection is read as one; other rasters are not JSON)."""
    return path.lower().endswith((".json", ".geojson"))


def asset_of(item, band):
    """(asset key, asset dict) of ``band`` (a name of :data:`ASSET_KEYS`) in ``item``, or (None, None)."""
    assets = item.get("assets") or {}
    for key in ASSET_KEYS[band]:
        if key in assets and assets[key].get("href"):
            return key, assets[key]
    return None, None


def gdal_path(href, folder):
    """The GDAL path of an asset ``href``: ``/vsicurl/`` for HTTP(S), ``/vsis3/`` for s3://, else a local file
    (relative to ``folder``, the ItemCollection's)."""
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    if href.startswith("s3://"):
        return "/vsis3/" + href[len("s3://"):]
    if href.startswith("file://"):
        href = href[len("file://"):]
    return href if os.path.isabs(href) else os.path.normpath(os.path.join(folder, href))


def item_properties(item):
    """The ``properties`` object of an item ({} when it has none, or something else)."""
    properties = item.get("properties")
    return properties if isinstance(properties, dict) else {}


def item_date(item):
    """The acquisition date of an item (``datetime``, else ``start_datetime``)."""
    properties = item_properties(item)
    text = properties.get("datetime") or properties.get("start_datetime")
    if not isinstance(text, str) or not text:
        raise ItemCollectionError("item %s has no datetime." % item.get("id"))
    try:
        return datetime.date.fromisoformat(text[:10])
    except ValueError as error:
        raise ItemCollectionError("item %s: datetime %r is not a date." % (item.get("id"), text)) from error


def cloud_cover(item):
    """The scene cloud cover (``eo:cloud_cover``, %) of an item, or None when it is not given or not a number from
    0 to 100."""
    value = item_properties(item).get("eo:cloud_cover")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value <= 100 else None


def item_baseline(item):
    """The processing baseline of an item as a number (``s2:processing_baseline``, else the N0xxx of its product
    name), or None."""
    properties = item_properties(item)
    text = properties.get("s2:processing_baseline") or properties.get("sentinel:processing_baseline")
    if not text:
        name = str(properties.get("s2:product_uri") or item.get("id") or "")
        found = [part for part in name.replace(".", "_").split("_") if len(part) == 5 and part[0] == "N"
                 and part[1:].isdigit()]
        text = "%s.%s" % (found[0][1:3], found[0][3:]) if found else None
    try:
        baseline = float(text) if text else None
    except (TypeError, ValueError):
        return None
    return baseline if baseline is not None and 0 < baseline < 100 else None


def item_tile(item):
    """The MGRS tile of an item (e.g. 33UWP), or ""."""
    properties = item_properties(item)
    if properties.get("s2:mgrs_tile"):
        return str(properties["s2:mgrs_tile"])
    if properties.get("grid:code"):
        return str(properties["grid:code"]).replace("MGRS-", "")
    parts = [properties.get(key) for key in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")]
    return "".join(str(part) for part in parts) if all(parts) else ""


def offset_of_metadata(item):
    """(DN to subtract, how it was decided, True when the pixels must confirm it) of an item by its metadata."""
    properties = item_properties(item)
    flag = next((properties[name] for name in OFFSET_FLAGS if name in properties), None)
    _, asset = asset_of(item, GRID_BAND)
    bands = (asset or {}).get("raster:bands") or []
    if bands and isinstance(bands[0], dict) and "offset" in bands[0] and flag is None:
        return _offset_of_raster_bands(item, bands[0]), "raster:bands offset", False
    baseline = item_baseline(item)
    if baseline is not None and baseline < 4.0:
        return 0, "baseline %.2f (before 04.00)" % baseline, False
    if flag is not None:
        return (0 if flag else BOA_ADD), "boa_offset_applied %s" % str(bool(flag)).lower(), True
    return BOA_ADD, ("baseline %.2f" % baseline if baseline is not None else "no baseline given"), True


def _offset_of_raster_bands(item, band):
    """The DN offset that a ``raster:bands`` entry's offset and scale (reflectance = DN × scale + offset) give;
    an :class:`ItemCollectionError` naming the item when they are not numbers, or give an offset no Sentinel-2
    L2A product has (outside 0 to :data:`MAX_DN_OFFSET`)."""
    offset, scale = band.get("offset"), band.get("scale", 1e-4)
    numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                  for value in (offset, scale))
    dn_offset = -offset / scale if numbers and 0 < scale <= 1 else float("nan")
    if not 0 <= dn_offset <= MAX_DN_OFFSET:
        raise ItemCollectionError("item %s: its raster:bands offset %r and scale %r are not those of Sentinel-2 L2A "
                                  "reflectance (a DN offset from 0 to %d)" % (item.get("id"), offset, scale,
                                                                             MAX_DN_OFFSET))
    return int(round(dn_offset))


def offset_on_pixels(blue_path, scl_path):
    """The BOA offset the pixels of an item show (:data:`BOA_ADD` or 0; None when they cannot tell): from an
    overview of its blue band and SCL (see the module's docstring)."""
    scl = _overview(scl_path)
    blue = _overview(blue_path, scl.shape)
    return offset_of_vegetation(blue[(scl == VEGETATION_CLASS) & (blue != FILL_DN)])


def offset_of_vegetation(blue):
    """:data:`BOA_ADD`, 0 or None (undecided) from the blue DN of an item's vegetation pixels."""
    if blue.size < MIN_VEGETATION_PIXELS:
        return None
    median = float(np.median(blue))
    return BOA_ADD if median >= OFFSET_FROM else 0 if median < HARMONISED_BELOW else None


def _overview(path, shape=None):
    """The band of ``path`` read at most :data:`RULE_OVERVIEW_SIDE` pixels a side (or at ``shape``), nearest."""
    dataset = gdal.Open(path)
    if shape is None:
        factor = max(1, math.ceil(max(dataset.RasterXSize, dataset.RasterYSize) / RULE_OVERVIEW_SIDE))
        shape = (math.ceil(dataset.RasterYSize / factor), math.ceil(dataset.RasterXSize / factor))
    return dataset.GetRasterBand(1).ReadAsArray(buf_xsize=shape[1], buf_ysize=shape[0],
                                                resample_alg=gdal.GRIORA_NearestNeighbour)


def check_grid_over_bbox(item, grid, epsg):
    """An :class:`ItemCollectionError` naming ``item`` when the grid its ``proj:`` fields give (EPSG ``epsg``)
    does not overlap its ``bbox`` (WGS 84): its metadata contradicts itself (a wrong UTM zone, a wrong transform)."""
    bbox = item.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        return
    source, degrees = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromWkt(grid.crs_wkt)
    degrees.ImportFromEPSG(4326)
    for reference in (source, degrees):
        reference.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x0, dx, _, y0, _, dy = grid.geotransform
    corners = [(x0 + dx * col, y0 + dy * row) for col in (0, grid.width) for row in (0, grid.height)]
    points = osr.CoordinateTransformation(source, degrees).TransformPoints(corners)
    west, east = min(p[0] for p in points), max(p[0] for p in points)
    south, north = min(p[1] for p in points), max(p[1] for p in points)
    if west > bbox[2] or east < bbox[0] or south > bbox[3] or north < bbox[1]:
        raise ItemCollectionError("item %s: its grid (proj:epsg %s, proj:transform) lies at %.2f–%.2f° E, "
                                  "%.2f–%.2f° N, not over its bbox %s; its metadata contradicts itself" % (
                                      item.get("id"), epsg, west, east, south, north, bbox))


def same_crs(wkt, other):
    """True when two WKT name the same CRS (a file without one is taken at its item's word)."""
    if not wkt or not other:
        return True
    first, second = osr.SpatialReference(), osr.SpatialReference()
    first.ImportFromWkt(wkt)
    second.ImportFromWkt(other)
    return bool(first.IsSame(second))


def crs_name(wkt):
    reference = osr.SpatialReference()
    reference.ImportFromWkt(wkt)
    return reference.GetName() or "unknown"


def crs_wkt_of_epsg(code):
    """The WKT of EPSG ``code``."""
    reference = osr.SpatialReference()
    reference.ImportFromEPSG(int(code))
    return reference.ExportToWkt()


def item_grid(item, path_of):
    """The 10 m :class:`RasterGrid` of an item: its :data:`GRID_BAND` asset's ``proj:`` fields (or the item's),
    else the header of that asset (``path_of`` gives its GDAL path)."""
    _, asset = asset_of(item, GRID_BAND)
    properties = item_properties(item)
    transform = asset.get("proj:transform") or properties.get("proj:transform")
    shape = asset.get("proj:shape") or properties.get("proj:shape")
    epsg = asset.get("proj:epsg") or properties.get("proj:epsg")
    code = asset.get("proj:code") or properties.get("proj:code") or ""
    if epsg is None and code.upper().startswith("EPSG:"):
        epsg = code.split(":", 1)[1]
    if transform and shape and epsg:
        a, b, c, d, e, f = (float(value) for value in transform[:6])
        height, width = (int(value) for value in shape[:2])
        if not all(math.isfinite(value) for value in (a, b, c, d, e, f)) or a <= 0 or e >= 0 \
                or not (0 < width <= MAX_GRID_SIDE and 0 < height <= MAX_GRID_SIDE):
            raise ItemCollectionError("item %s: its proj:transform %s and proj:shape %s are not those of a north-up "
                                      "grid of up to %d pixels a side" % (item.get("id"), transform, shape,
                                                                          MAX_GRID_SIDE))
        grid = RasterGrid(width, height, (c, a, b, f, d, e), crs_wkt_of_epsg(epsg))
        check_grid_over_bbox(item, grid, epsg)
        return grid
    dataset = gdal.Open(path_of(asset["href"]))
    return RasterGrid(dataset.RasterXSize, dataset.RasterYSize, tuple(dataset.GetGeoTransform()),
                      dataset.GetProjection())


@dataclass
class ItemDate:
    """One item as a date of a series: its id, date, tile, baseline, DN offset (subtracted from every band), the
    GDAL path of each band's asset, and the catalogue's own words on the offset."""
    id: str
    date: datetime.date
    tile: str
    baseline: float
    offset: int
    offset_reason: str
    paths: dict = field(default_factory=dict)
    #: The scene cloud cover (%), None when the item does not give it.
    cloud_cover: float = None


class ItemSeries(TimeSeries):
    """A :class:`TimeSeries` of STAC items on one 10 m grid: each band of each date is a single-band COG read in
    the window asked for, 20 m assets repeated onto the 10 m pixels, the item's offset removed (int16 DN with
    nodata :data:`STACK_NODATA`, as the plugin's stacks). A date whose asset cannot be read is left out of that
    window (all nodata, SCL no data) and recorded in :attr:`failures`; :meth:`check_failures` stops a job when too
    many failed."""

    #: Files kept open: the assets of two dates, so that a date's blocks stay cached while its windows are read.
    open_datasets = 2 * len(ASSET_KEYS)

    def __init__(self, item_dates, grid, network=None, signer=None):
        bands = [band for band in ASSET_KEYS if band != "SCL"]
        sources = {band: [(date.paths[band], 1) for date in item_dates] for band in bands}
        super().__init__(sources, [(date.paths["SCL"], 1) for date in item_dates],
                         [date.date for date in item_dates], grid, [STACK_NODATA] * len(item_dates),
                         files=[date.id for date in item_dates])
        self.item_dates = item_dates
        self.cloud_cover = [date.cloud_cover for date in item_dates]
        #: GDAL settings of the network the reads need besides :data:`HTTP_OPTIONS` (proxy, S3 access).
        self.network = dict(network or {})
        #: Signs the hrefs of storage that needs it (``gisio.sas.SasSigner``), or None.
        self.signer = signer
        self._opened_as = {}
        self._asset = {path: (date, band) for date in item_dates for band, path in date.paths.items()}
        self.failures, self.reads, self.sizes = [], 0, {}
        self._block_rows = None

    def __getstate__(self):
        return dict(super().__getstate__(), failures=[], reads=0, sizes={}, _opened_as={}, _block_rows=None)

    def signed(self, path):
        """``path`` as it is read: signed when its storage needs it (a token renewed before it expires)."""
        return self.signer.sign(path) if self.signer else path

    @property
    def tile(self):
        """The MGRS tile of the series (its first item's), else the first item's id."""
        return self.item_dates[0].tile or self.item_dates[0].id

    def state(self):
        """What results read from the series depend on: each item's id, offset and asset paths."""
        return [(date.id, date.offset, sorted(date.paths.items())) for date in self.item_dates]

    def read_entries(self, entries, rows, cols=None):
        cols = slice(0, self.grid.width) if cols is None else cols
        return np.stack([self._read_asset(path, rows, cols) for path, _ in entries])

    def _read_asset(self, path, rows, cols):
        """int16 DN of one asset in the window ``rows``, ``cols`` of the 10 m grid (offset removed); nodata where
        it cannot be read, the failure recorded with whether a rerun would repeat it."""
        date, band = self._asset[path]
        self.reads += 1
        try:
            values = self._window_or_retry(path, rows, cols)
        except SasError as error:  # its token endpoint did not answer: a rerun may read it
            self.failures.append((date.id, band, path, str(error), False))
        except _ReadFailure as failure:
            text = without_tokens(str(failure.error).strip())
            self.failures.append((date.id, band, path, text,
                                  failure_is_permanent(self._opened_as.get(path, path), text, failure.status)))
        else:
            return stack_dn(values, 0 if band == "SCL" else -date.offset)
        return np.full((rows.stop - rows.start, cols.stop - cols.start), STACK_NODATA, np.int16)

    def _window_or_retry(self, path, rows, cols):
        """:meth:`_window`; once more after a failure while the server serves the file (its status is asked once,
        with a HEAD): GDAL keeps what it learnt of a URL (that it was missing while its server was down) for the
        life of the process. A failure is raised as :class:`_ReadFailure` with that status."""
        try:
            with http_settings(self.network):
                return self._window(path, rows, cols)
        except (RuntimeError, RasterReadError) as error:
            opened_as = self._opened_as.get(path, path)  # signed, once the read has asked for the dataset
            status = http_status(url_of(opened_as)) if opened_as.startswith("/vsicurl/") else None
            if not _served(status):
                raise _ReadFailure(error, status) from error
        gdal.VSICurlPartialClearCache(opened_as)
        self._datasets.pop(path, None)
        try:
            with http_settings(self.network):
                return self._window(path, rows, cols)
        except (RuntimeError, RasterReadError) as error:
            raise _ReadFailure(error, status) from error

    def _window(self, path, rows, cols):
        """DN of the asset at ``path`` in a 10 m window: a 20 m (or coarser) asset on the same origin is read in
        the covering window of its own pixels and each pixel repeated."""
        dataset = self._dataset(path)
        factor = self._factor(path, dataset)
        top, left = rows.start // factor, cols.start // factor
        bottom, right = -(-rows.stop // factor), -(-cols.stop // factor)
        values = dataset.GetRasterBand(1).ReadAsArray(left, top, right - left, bottom - top)
        if factor > 1:
            values = np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)
        return values[rows.start - top * factor:rows.stop - top * factor,
                      cols.start - left * factor:cols.stop - left * factor]

    def _dataset(self, path):
        """The open dataset of ``path`` (see :meth:`TimeSeries._dataset`), opened again when its token was
        renewed; the size of its file is noted."""
        signed = self.signed(path)
        if self._opened_as.get(path, signed) != signed:
            self._datasets.pop(path, None)
        self._opened_as[path] = signed
        dataset = super()._dataset(path)
        if path not in self.sizes:
            stat = gdal.VSIStatL(signed)
            self.sizes[path] = stat.size if stat else 0
        return dataset

    def _open(self, path):
        return open_raster(self._opened_as.get(path, path))

    def _factor(self, path, dataset):
        """How many 10 m pixels one pixel of ``dataset`` spans a side; its grid must share the tile's origin."""
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        gx0, gdx, _, gy0, _, gdy = self.grid.geotransform
        factor = int(round(dx / gdx))
        if factor < 1 or abs(dx - factor * gdx) > 1e-6 * abs(gdx) or abs(dy - factor * gdy) > 1e-6 * abs(gdy) \
                or abs(x0 - gx0) > 1e-3 * abs(gdx) or abs(y0 - gy0) > 1e-3 * abs(gdy):
            raise RasterReadError("%s is not on the pixel grid of its tile (origin %.2f, %.2f, pixel %g m; the "
                                  "tile's %.2f, %.2f, %g m)" % (path, x0, y0, dx, gx0, gy0, gdx))
        if not same_crs(dataset.GetProjection(), self.grid.crs_wkt):
            raise RasterReadError("%s is in another CRS than its item says (%s, not %s)" % (
                path, crs_name(dataset.GetProjection()), crs_name(self.grid.crs_wkt)))
        return factor

    @property
    def block_rows(self):
        """Rows (10 m pixels) of the tallest block of the first item's assets (a 20 m asset's 1024 px blocks span
        2048 rows), so that windows read together share whole blocks; :data:`~.series.READ_TARGET` when none can
        be opened."""
        if self._block_rows is None:
            rows = []
            with http_settings(self.network):
                for path in self.item_dates[0].paths.values():
                    try:
                        dataset = self._dataset(path)
                        rows.append(dataset.GetRasterBand(1).GetBlockSize()[1] * self._factor(path, dataset))
                    except (RuntimeError, RasterReadError):
                        continue
            self._block_rows = max(rows + [READ_TARGET])
        return self._block_rows

    def window_blocks(self, path, signed, windows):
        """{(column, row) of a block: (its compressed bytes, how many of ``windows`` touch it)} of the asset at
        ``path`` (``signed``: as :meth:`signed` gives it), from its header alone (``BLOCK_SIZE_x_y`` of the TIFF);
        ``windows`` in 10 m pixels of the tile. Opens its own dataset, so that threads may read several headers at
        once. Raises :class:`RasterReadError` when it cannot be opened."""
        with http_settings(self.network):
            dataset = open_raster(signed)
            factor = self._factor(path, dataset)
            band = dataset.GetRasterBand(1)
            width, height = band.GetBlockSize()
            touched = {}
            for rows, cols in windows:
                for y in range(rows.start // factor // height, (-(-rows.stop // factor) - 1) // height + 1):
                    for x in range(cols.start // factor // width, (-(-cols.stop // factor) - 1) // width + 1):
                        touched[(x, y)] = touched.get((x, y), 0) + 1
            return {block: (int(band.GetMetadataItem("BLOCK_SIZE_%d_%d" % block, "TIFF") or 0), count)
                    for block, count in touched.items()}

    def answered(self):
        """Has every read so far been answered (no failure a rerun may not repeat)?"""
        return all(failure[4] for failure in self.failures)

    def check_failures(self):
        """Raise :class:`ServerNotAnswering` when a read failed for a reason a rerun may not repeat (a server down
        or overloaded, the network): what was read is incomplete, so nothing of it may be kept. Raise
        :class:`RasterReadError` when more than :data:`MAX_FAILED_SHARE` of the reads failed for good (files
        missing or broken). Both name the first failed item and URL."""
        passing = [failure for failure in self.failures if not failure[4]]
        if passing:
            item, band, path, error, _ = passing[0]
            raise ServerNotAnswering(
                "%d read(s) failed because the server did not answer properly, the first: item %s, %s at %s (%s); "
                "nothing read from this tile is kept: run again to resume once the server answers" % (
                    len(passing), item, band, url_of(path), error))
        if self.failures and len(self.failures) > MAX_FAILED_SHARE * self.reads:
            item, band, path, error, _ = self.failures[0]
            raise RasterReadError("%d of %d reads failed because the files are missing or broken (a rerun would "
                                  "read the same); the first: item %s, %s at %s (%s)" % (
                                      len(self.failures), self.reads, item, band, url_of(path), error))


class ServerNotAnswering(RasterReadError):
    """Reads of a series failed because the server did not answer properly: its results must not be kept."""


def server_did_not_answer(result):
    """True for the result of a region job that failed with :class:`ServerNotAnswering`."""
    return (result.get("error") or "").startswith(ServerNotAnswering.__name__ + ":")


class _ReadFailure(Exception):
    """A read of an asset failed with ``error``; ``status``: what its server answered a HEAD request (None: not
    asked, or no answer)."""

    def __init__(self, error, status):
        super().__init__(str(error))
        self.error, self.status = error, status


def failure_is_permanent(path, error, probed):
    """True when a failed read of ``path`` (GDAL's ``error``) would fail the same way on a rerun: a local file, an
    HTTP status of :data:`PERMANENT_STATUSES`, or a file its server serves but GDAL cannot read (broken, not on
    the grid its item says). False when the server does not answer, or answers 429 or 5xx. The status is GDAL's,
    else ``probed`` (the answer to a HEAD request; an object store is not asked: without a status, its server did
    not answer)."""
    if not path.startswith(("/vsicurl/", "/vsis3/")):
        return True
    said = re.search(r"HTTP (?:response )?code:? ?(\d{3})", error)
    status = int(said.group(1)) if said else probed
    return status is not None and (status in PERMANENT_STATUSES or _served(status))


def _served(status):
    return status is not None and 200 <= status < 400


def http_status(url):
    """The HTTP status of a HEAD request to ``url``, or None when the server does not answer in
    :data:`PROBE_SECONDS`."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_SECONDS) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


def url_of(path):
    """The URL (or file) of a GDAL path."""
    if path.startswith("/vsicurl/"):
        return path[len("/vsicurl/"):]
    return "s3://" + path[len("/vsis3/"):] if path.startswith("/vsis3/") else path


def s3_options(environment):
    """GDAL settings for ``s3://`` hrefs: unsigned requests (public buckets such as Sentinel-2 COGs on AWS)
    unless ``environment`` (os.environ) holds AWS credentials or the user chose."""
    chosen = ("AWS_NO_SIGN_REQUEST", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
              "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE")
    credentials = os.path.join(os.path.expanduser("~"), ".aws", "credentials")
    if any(environment.get(name) for name in chosen) or os.path.exists(credentials):
        return {}
    return {"AWS_NO_SIGN_REQUEST": "YES"}


class http_settings:  # noqa: N801 (used as a context manager, like a function)
    """GDAL's HTTP settings (:data:`HTTP_OPTIONS`, and ``network``: a proxy, S3 access) set around a read, for the
    reading thread only, and restored afterwards, so that other readers in the process (other plugins, QGIS's
    rendering) keep their own."""

    def __init__(self, network=None):
        self.options = dict(HTTP_OPTIONS, **(network or {}))

    def __enter__(self):
        self.previous = {name: gdal.GetThreadLocalConfigOption(name, None) for name in self.options}
        for name, value in self.options.items():
            gdal.SetThreadLocalConfigOption(name, value)
        return self

    def __exit__(self, *exc):
        for name, value in self.previous.items():
            gdal.SetThreadLocalConfigOption(name, value)
        return False


def network_totals():
    """(bytes fetched, HTTP requests) GDAL's network statistics count since the last reset."""
    methods = json.loads(gdal.NetworkStatsGetAsSerializedJSON() or "{}").get("methods") or {}
    return (sum(int(method.get("downloaded_bytes", 0)) for method in methods.values()),
            sum(int(method.get("count", 0)) for method in methods.values()))


def no_fetches():
    """The totals of reads that fetched nothing: bytes, requests, file sizes by path, failed reads."""
    return dict(bytes=0, requests=0, file_bytes={}, failures=[])


class counting_fetches:  # noqa: N801 (a context manager)
    """What GDAL fetches over the network inside the block: its statistics reset on entry; on exit
    :attr:`totals` (bytes, requests, as :class:`remote_reading` gives them), and counting stops."""

    def __enter__(self):
        with http_settings():
            gdal.NetworkStatsReset()
        self.totals = no_fetches()
        return self

    def __exit__(self, *exc):
        fetched, requests = network_totals()
        self.totals.update(bytes=fetched, requests=requests)
        gdal.NetworkStatsReset()  # with the setting restored: counting stops
        return False


class remote_reading:  # noqa: N801 (a context manager)
    """Count what a job fetches: GDAL's network statistics reset on entry; :attr:`totals` on exit holds
    fetched bytes, requests, the bytes of the whole files read from (``file_bytes``, by path) and the failed reads
    of the ``series`` (those that are :class:`ItemSeries`)."""

    def __init__(self, series):
        self.series = [one for one in series if isinstance(one, ItemSeries)]
        self.totals = no_fetches()

    def __enter__(self):
        self.counting = counting_fetches().__enter__() if self.series else None
        return self

    def __exit__(self, *exc):
        if self.counting:
            self.counting.__exit__(*exc)
            self.totals.update(self.counting.totals,
                               file_bytes={path: size for one in self.series for path, size in one.sizes.items()},
                               failures=[failure for one in self.series for failure in one.failures])
        return False

    def check_failures(self):
        """Raise :class:`RasterReadError` when a series read too many dates in vain (see
        :meth:`ItemSeries.check_failures`)."""
        for one in self.series:
            one.check_failures()
