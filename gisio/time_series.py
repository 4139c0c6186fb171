"""Sentinel-2 time series: one or more openEO netCDF files, or several dated stacks, composites or products on
one grid."""
import datetime
import os

from osgeo import gdal
from qgis.PyQt.QtNetwork import QNetworkProxy
from qgis.core import QgsNetworkAccessManager, QgsProcessingException

from ..core import composite
from ..core.bands import GEE_LAYOUTS, ROLE_BANDS, S2_BANDS, sentinel2_band_name
from ..core.periods import DAY, date_in_name
from .messages import tr
from .raster import RasterReadError, band_nodata, grid_of_dataset, open_raster, raster_info
from . import sas, stac_items
from .series import TimeSeries
from .s2_files import check_one_crs, find_bands, output_grid, write_stack

#: Time units of openEO netCDF files, with their epoch.
EPOCHS = {"days since 1990-01-01": datetime.date(1990, 1, 1), "days since 1970-01-01": datetime.date(1970, 1, 1)}


def netcdf_variables(path):
    """The variables (subdatasets) of an openEO netCDF time series: {name: GDAL path}, the grid, and the time
    values of its bands (from ``NETCDF_DIM_t``) with their units."""
    dataset = open_raster(path)
    variables = {name.rsplit(":", 1)[-1]: name for name, _ in dataset.GetSubDatasets()}
    if not variables:
        raise RasterReadError("%s holds no netCDF variables." % path)
    first = open_raster(next(iter(variables.values())))
    times = [float(first.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t") or "nan")
             for i in range(first.RasterCount)]
    return variables, grid_of_dataset(first), times, first.GetMetadataItem("t#units") or ""


def _joined(series_list):
    """One :class:`TimeSeries` of several on one grid with the same bands, their dates in order given."""
    first = series_list[0]
    names = [name for name in first.sources if all(name in one.sources for one in series_list)]
    return TimeSeries({name: [entry for one in series_list for entry in one.sources[name]] for name in names},
                      [entry for one in series_list for entry in one.scl],
                      [date for one in series_list for date in one.dates], first.grid,
                      [value for one in series_list for value in one.nodata_by_date],
                      [value for one in series_list for value in one.precisions],
                      [value for one in series_list for value in one.files])


def netcdf_series(paths, parameter="INPUT", folder=None):
    """A :class:`TimeSeries` of one or more openEO netCDF files (variables B01…B12, SCL; dims t, y, x) on one
    grid, their dates in file order. A path GDAL cannot name a variable of (one with a double quote) is read
    through a link in ``folder``."""
    areas = netcdf_series_by_grid(paths, parameter, folder)
    if len(areas) > 1:
        raise QgsProcessingException(tr("%s: %s is on another grid than %s; give netCDF files of one area.")
                                     % (parameter, areas[1].files[0], paths[0]))
    return areas[0]


def netcdf_series_by_grid(paths, parameter="INPUT", folder=None):
    """One :class:`TimeSeries` per grid (area) of openEO netCDF files, in the order the grids first come; the
    files of one grid must hold the same bands."""
    areas = []
    for grid, series in _by_grid([one_netcdf_series(path, parameter, folder) for path in paths],
                                 lambda one: one.grid):
        for other in series[1:]:
            if set(other.sources) != set(series[0].sources):
                raise QgsProcessingException(tr("%s: %s holds other bands than %s, on the same grid; give netCDF "
                                                "files of one band set.") % (parameter, other.files[0],
                                                                            series[0].files[0]))
        areas.append(_joined(series))
    return areas


def _by_grid(items, grid_of_item):
    """[(grid, [items on it]), …] in the order the grids first come."""
    groups = []
    for item in items:
        grid = grid_of_item(item)
        for known, members in groups:
            if known == grid:
                members.append(item)
                break
        else:
            groups.append((grid, [item]))
    return groups


def readable_netcdf_path(path, folder):
    """``path``, or when it holds a double quote (GDAL's ``NETCDF:"file":variable`` cannot quote it) a link to it
    in ``folder``."""
    if '"' not in path or folder is None:
        return path
    link = os.path.join(folder, "series_%d.nc" % len(os.listdir(folder)))
    os.symlink(os.path.abspath(path), link)
    return link


def one_netcdf_series(path, parameter="INPUT", folder=None):
    """A :class:`TimeSeries` of one openEO netCDF file (see :func:`netcdf_series` for ``folder``)."""
    try:
        variables, grid, times, units = netcdf_variables(readable_netcdf_path(path, folder))
    except RasterReadError as error:
        raise QgsProcessingException(tr("%s: %s is not a netCDF time series GDAL can read (%s).")
                                     % (parameter, path, error))
    if "SCL" not in variables:
        raise QgsProcessingException(tr("%s: %s has no variable SCL (the scene classification); it is needed to "
                                        "tell clear observations. Found: %s.") % (parameter, path,
                                                                                 ", ".join(variables)))
    names = [name for name in S2_BANDS if name in variables]
    if not names:
        raise QgsProcessingException(tr("%s: %s has no Sentinel-2 band variable (B01…B12). Found: %s.")
                                     % (parameter, path, ", ".join(variables)))
    epoch = EPOCHS.get(units.strip())
    dates = [epoch + datetime.timedelta(days=t) if epoch and t == t else None for t in times]
    steps = range(1, len(times) + 1)
    sources = {name: [(variables[name], number) for number in steps] for name in names}
    nodata = band_nodata(variables[names[0]])
    return TimeSeries(sources, [(variables["SCL"], number) for number in steps], dates, grid,
                      [nodata] * len(times), files=[path] * len(times))


def check_role_bands(series, parameter="INPUT"):
    """Raise a QgsProcessingException naming ``parameter`` unless every date has the six role bands."""
    missing = [band for band in ROLE_BANDS.values() if band not in series.sources]
    if missing:
        raise QgsProcessingException(tr(
            "%s: the time series lacks %s (every date needs %s); export those bands too, or give stacks that hold "
            "them.") % (parameter, ", ".join(missing), ", ".join(ROLE_BANDS.values())))


def _band_names(info):
    """Sentinel-2 band name (or "SCL", or None) of each band of a stack: from the band descriptions, else from
    the band count of an Earth Engine export."""
    names = [("SCL" if (d or "").strip().upper() == "SCL" else sentinel2_band_name(d)) for d in info.descriptions]
    if not any(names) and len(names) in GEE_LAYOUTS:
        names = list(GEE_LAYOUTS[len(names)])
    return names


def _stack_date(path, info):
    """(date, precision) of a stack: its ``DATE`` metadata (Build Sentinel-2 stack, SAFE metadata), else a date in
    its file name; (None, None) when it has neither."""
    date = info.metadata.get("DATE")
    if date and date != "unknown":
        try:
            return datetime.date.fromisoformat(date[:10]), DAY
        except ValueError:
            pass
    return date_in_name(os.path.basename(path))


def stacks_series(paths, feedback, folder, parameter="INPUT", require_scl=True):
    """A :class:`TimeSeries` of several stacks (GeoTIFFs with band descriptions, and SCL unless they are
    composites and ``require_scl`` is False) or L2A products on one grid; products are stacked into ``folder``
    first."""
    stacks = _stack_files(paths, feedback, folder, parameter)
    for stack, original, info in stacks[1:]:
        if info.grid != stacks[0][2].grid:
            raise QgsProcessingException(tr(
                "%s: %s is on another grid (CRS, extent or pixel size) than %s; build the stacks on one grid (Build "
                "Sentinel-2 stack, same EXTENT).") % (parameter, original, stacks[0][1]))
    return _stacks_on_one_grid(stacks, parameter, require_scl)


def stacks_series_by_grid(paths, feedback, folder, parameter="INPUT", require_scl=True):
    """One :class:`TimeSeries` per grid (tile or area) of stacks, composites or products (see
    :func:`stacks_series`), in the order the grids first come."""
    return [_stacks_on_one_grid(stacks, parameter, require_scl)
            for _, stacks in _by_grid(_stack_files(paths, feedback, folder, parameter), lambda stack: stack[2].grid)]


def _stack_files(paths, feedback, folder, parameter):
    """[(stack path, path given, raster info), …]: L2A products are stacked into ``folder`` first."""
    stacks = []
    for number, path in enumerate(paths):
        if path.lower().endswith(".nc"):
            raise QgsProcessingException(tr("%s: give either netCDF files or stacks / products, not both (%s).")
                                         % (parameter, path))
        original = path
        if path.lower().endswith((".zip", ".xml")) or os.path.isdir(path):
            product = find_bands(path, feedback)
            check_one_crs(product)
            path = os.path.join(folder, "stack_%d.tif" % number)
            write_stack(product, output_grid(product, 10), 10, path, "GTiff", feedback)
        stacks.append((path, original, raster_info(path)))  # unreadable: the algorithm names its parameter
    return stacks


def _stacks_on_one_grid(stacks, parameter, require_scl):
    """The :class:`TimeSeries` of ``stacks`` ((stack, path given, info), all on one grid)."""
    sources, scl, dates, precisions, nodata = {}, [], [], [], []
    for path, original, info in stacks:
        names = _band_names(info)
        if require_scl and "SCL" not in names:
            raise QgsProcessingException(tr("%s: %s has no SCL band (scene classification); clear observations "
                                            "cannot be told. Use L2A stacks.") % (parameter, original))
        scl.append((path, names.index("SCL") + 1) if "SCL" in names else None)
        for number, name in enumerate(names, start=1):
            if name and name != "SCL":
                sources.setdefault(name, []).append((path, number))
        date, precision = _stack_date(original, info)
        dates.append(date)
        precisions.append(precision)
        first_band = next((n for n, name in enumerate(names, start=1) if name and name != "SCL"), 1)
        stack_nodata = band_nodata(path, first_band)
        nodata.append(composite.OUTPUT_NODATA if stack_nodata is None and "SCL" in names else stack_nodata)
    common = [name for name in S2_BANDS if name in sources and len(sources[name]) == len(stacks)]
    return TimeSeries({name: sources[name] for name in common}, scl, dates, stacks[0][2].grid, nodata, precisions,
                      [original for _, original, _ in stacks])


def item_series_by_grid(paths, feedback, parameter="INPUT"):
    """One :class:`ItemSeries` per 10 m grid (MGRS tile) of the Sentinel-2 L2A items of STAC ItemCollection files
    (an item in several, once), dates in order. Items without a role band or SCL asset are left out with a
    warning; the BOA offset of each item is decided as :mod:`.stac_items` documents (the pixels decide where the
    metadata cannot be trusted)."""
    items, seen = [], set()
    for path in paths:
        try:
            found = stac_items.read_item_collection(path)
        except stac_items.ItemCollectionError as error:
            raise QgsProcessingException("%s: %s" % (parameter, error))
        folder = os.path.dirname(os.path.abspath(path))
        for item in found:  # objects, read_item_collection says
            if item.get("id") is None or item["id"] not in seen:
                seen.add(item.get("id"))
                items.append((item, folder))
    path = ", ".join(paths)
    # what GDAL learnt of the URLs in an earlier run (a file missing while its server was down) must not decide it
    gdal.VSICurlClearCache()
    network = network_options()
    signer = sas.SasSigner(proxy=network.get("GDAL_HTTP_PROXY"))
    dates, grids = [], []
    for item, folder in items:
        try:
            date = _item_date(item, folder, feedback, parameter, network, signer)
            if date is not None:
                with stac_items.http_settings(network):  # the header of a file without proj: fields
                    grids.append(stac_items.item_grid(
                        item, lambda href: signer.sign(stac_items.gdal_path(href, folder))))
                dates.append(date)
        except sas.SasError as error:  # no item can be read until the endpoint answers
            raise QgsProcessingException("%s: %s; run again when it answers." % (parameter, error))
        except (stac_items.ItemCollectionError, RuntimeError, KeyError, TypeError, ValueError) as error:
            feedback.pushWarning(tr("%s: item %s left out: %s") % (parameter, item.get("id"), error))
    dates, grids = _on_the_grid_of_their_tile(dates, grids, feedback, parameter)
    if not dates:
        raise QgsProcessingException(tr("%s: none of the %d item(s) of %s can be read (see the warnings); search "
                                        "again with Find Sentinel-2 imagery (STAC).") % (parameter, len(items), path))
    reasons = {}
    for date in dates:
        reasons[date.offset_reason] = reasons.get(date.offset_reason, 0) + 1
    feedback.pushInfo(tr("%s: %d item(s); BOA offset decided by: %s.") % (
        parameter, len(dates), "; ".join("%s: %d" % pair for pair in sorted(reasons.items()))))
    areas = []
    for grid, members in _by_grid(zip(grids, dates), lambda pair: pair[0]):
        areas.append(stac_items.ItemSeries(_one_per_day([date for _, date in members], feedback, parameter), grid,
                                           network, signer))
    return areas


def _on_the_grid_of_their_tile(dates, grids, feedback, parameter):
    """The items (``dates``, with their ``grids``) on the grid most items of their MGRS tile share: a tile has one
    pixel grid, so an item whose ``proj:`` fields give another contradicts its tile and is left out with a
    warning."""
    by_tile = {}
    for date, grid in zip(dates, grids):
        if date.tile:
            by_tile.setdefault(date.tile, []).append(grid)
    usual = {tile: max(tile_grids, key=tile_grids.count) for tile, tile_grids in by_tile.items()}
    kept = []
    for date, grid in zip(dates, grids):
        if date.tile and grid != usual[date.tile]:
            feedback.pushWarning(tr("%s: item %s left out: its grid (origin %.1f, %.1f, %d × %d px) is not the one "
                                    "the other items of tile %s share (origin %.1f, %.1f, %d × %d px)") % (
                parameter, date.id, grid.geotransform[0], grid.geotransform[3], grid.width, grid.height, date.tile,
                usual[date.tile].geotransform[0], usual[date.tile].geotransform[3], usual[date.tile].width,
                usual[date.tile].height))
            continue
        kept.append((date, grid))
    return [date for date, _ in kept], [grid for _, grid in kept]


def network_options():
    """GDAL settings the reads of a catalogue need besides its HTTP options: QGIS's proxy (Settings > Options >
    Network), so that worker processes and Dask workers use it too, and unsigned S3 requests for ``s3://`` hrefs
    (:func:`.stac_items.s3_options`)."""
    options = stac_items.s3_options(os.environ)
    proxy = QgsNetworkAccessManager.instance().fallbackProxy()
    schemes = {QNetworkProxy.ProxyType.HttpProxy: "http", QNetworkProxy.ProxyType.HttpCachingProxy: "http",
               QNetworkProxy.ProxyType.Socks5Proxy: "socks5h"}
    if proxy.type() in schemes and proxy.hostName():
        options["GDAL_HTTP_PROXY"] = "%s://%s:%d" % (schemes[proxy.type()], proxy.hostName(), proxy.port())
        if proxy.user():
            options["GDAL_HTTP_PROXYUSERPWD"] = "%s:%s" % (proxy.user(), proxy.password())
    return options


def _item_date(item, folder, feedback, parameter, network, signer):
    """The :class:`ItemDate` of an item, or None (with a warning) when it lacks a band's asset."""
    missing = [band for band in stac_items.ASSET_KEYS if stac_items.asset_of(item, band)[0] is None]
    if missing:
        feedback.pushWarning(tr("%s: item %s left out: it has no asset for %s (asset keys looked for: %s).") % (
            parameter, item.get("id"), ", ".join(missing),
            "; ".join("/".join(stac_items.ASSET_KEYS[band]) for band in missing)))
        return None
    paths = {band: stac_items.gdal_path(stac_items.asset_of(item, band)[1]["href"], folder)
             for band in stac_items.ASSET_KEYS}
    offset, reason, check = stac_items.offset_of_metadata(item)
    if check:
        offset, reason = _offset_checked_on_pixels(item, {band: signer.sign(path) for band, path in paths.items()},
                                                   offset, reason, feedback, parameter, network)
    return stac_items.ItemDate(str(item.get("id")), stac_items.item_date(item), stac_items.item_tile(item),
                               stac_items.item_baseline(item), offset, reason, paths, stac_items.cloud_cover(item))


def _offset_checked_on_pixels(item, paths, offset, reason, feedback, parameter, network):
    """(offset, reason) of an item whose metadata cannot be trusted alone: what its pixels show, else the
    metadata's with a warning."""
    try:
        with stac_items.http_settings(network):
            seen = stac_items.offset_on_pixels(paths["B02"], paths["SCL"])
    except RuntimeError as error:
        feedback.pushWarning(tr("%s: item %s: its pixels could not be read to check the BOA offset (%s); using "
                                "the metadata (%s: offset %d).") % (parameter, item.get("id"),
                                                                    sas.without_tokens(str(error)), reason, offset))
        return offset, reason
    if seen is None:
        return offset, reason + tr(" (its vegetation pixels could not tell)")
    if seen != offset:
        feedback.pushWarning(tr("%s: item %s: the metadata (%s) says offset %d, its pixels show %d; the pixels are "
                                "trusted.") % (parameter, item.get("id"), reason, offset, seen))
    return seen, tr("pixels (median blue DN of vegetation)")


def _one_per_day(dates, feedback, parameter):
    """The item dates of one grid in date order, one per day: of several items of one day (a product processed
    twice) the one of the newest baseline."""
    by_day = {}
    for date in dates:
        kept = by_day.get(date.date)
        if kept is not None:
            chosen = max(kept, date, key=lambda one: one.baseline or 0)
            feedback.pushInfo(tr("%s: items %s and %s are one acquisition; %s (the newer baseline) is used.")
                              % (parameter, kept.id, date.id, chosen.id))
            date = chosen
        by_day[date.date] = date
    return [by_day[day] for day in sorted(by_day)]
