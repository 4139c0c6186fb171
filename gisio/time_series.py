"""Sentinel-2 time series: one or more openEO netCDF files, or several dated stacks, composites or products on
one grid."""
import datetime
import itertools
import os

import numpy as np
from qgis.core import QgsProcessingException

from ..core import composite
from ..core.bands import GEE_LAYOUTS, ROLE_BANDS, S2_BANDS, sentinel2_band_name
from ..core.periods import DAY, date_in_name
from ..core.windows import READ_TARGET
from .messages import tr
from .raster import RasterReadError, band_nodata, grid_of_dataset, open_raster, raster_info
from .s2_files import check_one_crs, find_bands, output_grid, write_stack

#: Time units of openEO netCDF files, with their epoch.
EPOCHS = {"days since 1990-01-01": datetime.date(1990, 1, 1), "days since 1970-01-01": datetime.date(1970, 1, 1)}


class TimeSeries:
    """A time series on one grid. Per date: for each band name a (GDAL path, band number) source, an SCL source
    (or None: every valid observation is clear, as in a composite), the nodata of its bands, the date, how
    precise that date is (``day`` or ``year``) and the file it came from."""

    def __init__(self, sources, scl, dates, grid, nodata, precisions=None, files=None):
        self.sources, self.scl, self.dates, self.grid = sources, scl, dates, grid
        self.nodata_by_date = list(nodata)
        self.precisions = list(precisions or [DAY] * len(dates))
        self.files = list(files or [None] * len(dates))
        self._datasets = {}

    @property
    def nodata(self):
        """The nodata of the first date (the composite algorithm treats one series as one product)."""
        return self.nodata_by_date[0] if self.nodata_by_date else None

    def _dataset(self, path):
        if path not in self._datasets:
            self._datasets[path] = open_raster(path)
        return self._datasets[path]

    def read_entries(self, entries, rows, cols=None):
        """(t, rows, cols) values of per-date (path, band) ``entries`` (all columns when ``cols`` is None);
        consecutive bands of one file in one read."""
        parts = []
        for path, group in itertools.groupby(entries, key=lambda entry: entry[0]):
            dataset = self._dataset(path)
            numbers = [band for _, band in group]
            columns = slice(0, dataset.RasterXSize) if cols is None else cols
            try:
                values = dataset.ReadAsArray(int(columns.start), int(rows.start), int(columns.stop - columns.start),
                                             int(rows.stop - rows.start), band_list=numbers)
            except RuntimeError as error:
                raise RasterReadError("GDAL cannot read %s: %s" % (path, error)) from error
            parts.append(values if values.ndim == 3 else values[None])
        return np.concatenate(parts, axis=0)

    def read(self, name, rows):
        """(t, rows, cols) values of a band (or "SCL") for the rows ``rows`` of every date."""
        return self.read_entries(self.scl if name == "SCL" else self.sources[name], rows)

    def clear(self, rows, cols, times, clear_classes):
        """Bool (t, h, w): observations at ``times`` that are clear by their SCL (True where a date has none)."""
        clear = np.ones((len(times), rows.stop - rows.start, cols.stop - cols.start), bool)
        with_scl = [position for position, time in enumerate(times) if self.scl[time] is not None]
        if with_scl:
            scl = self.read_entries([self.scl[times[position]] for position in with_scl], rows, cols)
            clear[with_scl] = composite.clear_observations(scl, clear_classes)
        return clear


class SeriesWindows:
    """A :class:`TimeSeries` as the core's plants-over-time reads it: windows of the six role bands at chosen
    dates, with their clear observations (SCL and nodata), the dates, and the scale and offset of its DN."""

    def __init__(self, series, scale, offset, clear_classes, block_shape=(256, 256)):
        self.series, self.scale, self.offset, self.clear_classes = series, scale, offset, clear_classes
        self.dates = series.dates
        self.shape = (series.grid.height, series.grid.width)
        self.block_shape = block_shape
        self.read_target = READ_TARGET

    def read(self, rows, cols, times):
        times = [int(time) for time in times]
        clear = self.series.clear(rows, cols, times, self.clear_classes)
        sources = self.series.sources
        if all(len({sources[band][time][0] for band in ROLE_BANDS.values()}) == 1 for time in times):
            # stacks: the role bands of a date in one read
            by_date = [self.series.read_entries([sources[band][time] for band in ROLE_BANDS.values()], rows, cols)
                       for time in times]
            dn = {role: np.stack([values[number] for values in by_date]) if by_date else
                  np.zeros((0, rows.stop - rows.start, cols.stop - cols.start))
                  for number, role in enumerate(ROLE_BANDS)}
        else:  # a file per band (netCDF variables): a band's dates in one read
            dn = {role: self.series.read_entries([sources[band][time] for time in times], rows, cols)
                  for role, band in ROLE_BANDS.items()}
        for position, time in enumerate(times):
            nodata = self.series.nodata_by_date[time]
            if nodata is not None:
                clear[position] &= np.logical_and.reduce([values[position] != nodata for values in dn.values()])
        return dn, clear


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
    series = [one_netcdf_series(path, parameter, folder) for path in paths]
    for other, path in zip(series[1:], paths[1:]):
        if other.grid != series[0].grid or set(other.sources) != set(series[0].sources):
            raise QgsProcessingException(tr("%s: %s is on another grid or holds other bands than %s; give netCDF "
                                            "files of one area and band set.") % (parameter, path, paths[0]))
    return _joined(series)


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
    composites and ``require_scl`` is False) or L2A products; products are stacked into ``folder`` first."""
    stacks, originals = [], []
    for number, path in enumerate(paths):
        if path.lower().endswith(".nc"):
            raise QgsProcessingException(tr("%s: give either netCDF files or stacks / products, not both (%s).")
                                         % (parameter, path))
        originals.append(path)
        if path.lower().endswith((".zip", ".xml")) or os.path.isdir(path):
            product = find_bands(path, feedback)
            check_one_crs(product)
            stacked = os.path.join(folder, "stack_%d.tif" % number)
            write_stack(product, output_grid(product, 10), 10, stacked, "GTiff", feedback)
            path = stacked
        stacks.append(path)
    infos = [raster_info(path) for path in stacks]  # a file GDAL cannot read: the algorithm names its parameter
    for info, path in zip(infos[1:], originals[1:]):
        if info.grid != infos[0].grid:
            raise QgsProcessingException(tr(
                "%s: %s is on another grid (CRS, extent or pixel size) than %s; build the stacks on one grid (Build "
                "Sentinel-2 stack, same EXTENT).") % (parameter, path, originals[0]))
    sources, scl, dates, precisions, nodata = {}, [], [], [], []
    for path, original, info in zip(stacks, originals, infos):
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
    return TimeSeries({name: sources[name] for name in common}, scl, dates, infos[0].grid, nodata, precisions,
                      originals)
