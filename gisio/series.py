"""A Sentinel-2 time series on one grid as workers read it (GDAL and numpy only, no QGIS): the files and bands of
each date, and windows of its role bands with their clear observations."""
import collections
import itertools

import numpy as np

from ..core import composite
from ..core.bands import ROLE_BANDS
from ..core.periods import DAY
from ..core.windows import READ_TARGET
from .raster import RasterReadError, open_raster

#: Files of a series kept open at once (a period's dates are read together; older files are closed).
OPEN_DATASETS = 4
#: Clear-mask pixels kept between choosing a window's dates and reading its bands (the SCL is not read twice).
KEPT_MASK_PIXELS = 1 << 25

class TimeSeries:
    """A time series on one grid. Per date: for each band name a (GDAL path, band number) source, an SCL source
    (or None: every valid observation is clear, as in a composite), the nodata of its bands, the date, how
    precise that date is (``day`` or ``year``) and the file it came from."""

    #: Files kept open at once.
    open_datasets = OPEN_DATASETS

    def __init__(self, sources, scl, dates, grid, nodata, precisions=None, files=None):
        self.sources, self.scl, self.dates, self.grid = sources, scl, dates, grid
        self.nodata_by_date = list(nodata)
        self.precisions = list(precisions or [DAY] * len(dates))
        self.files = list(files or [None] * len(dates))
        #: The scene cloud cover (%) of each date, None where unknown (files; a catalogue's items give it).
        self.cloud_cover = [None] * len(dates)
        self._datasets = {}

    def __getstate__(self):
        """Pickled for a worker without its open datasets (each process opens its own)."""
        return dict(self.__dict__, _datasets={})

    @property
    def nodata(self):
        """The nodata of the first date (the composite algorithm treats one series as one product)."""
        return self.nodata_by_date[0] if self.nodata_by_date else None

    def _dataset(self, path):
        """The open dataset of ``path``; at most :data:`OPEN_DATASETS` stay open (the least recently used is
        closed), so that the memory GDAL holds per open file does not grow with the number of dates."""
        dataset = self._datasets.pop(path, None) or self._open(path)
        self._datasets[path] = dataset  # the most recently used last
        while len(self._datasets) > self.open_datasets:
            del self._datasets[next(iter(self._datasets))]
        return dataset

    def _open(self, path):
        return open_raster(path)

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
        #: Rows of a batch of windows read together: a file's blocks are fetched once for the windows of a batch.
        self.read_target = getattr(series, "block_rows", READ_TARGET)
        self.cloud_cover = series.cloud_cover
        self._kept, self._kept_pixels = collections.OrderedDict(), 0

    def clear_masks(self, rows, cols, times):
        """Bool (t, h, w): the observations of the window at ``times`` that are clear by their SCL, without reading
        the bands. Kept for :meth:`read` (at most :data:`KEPT_MASK_PIXELS`, the oldest dropped first)."""
        times = [int(time) for time in times]
        clear = self.series.clear(rows, cols, times, self.clear_classes)
        for time, mask in zip(times, clear):
            key = (rows.start, rows.stop, cols.start, cols.stop, time)
            self._forget(key)
            self._kept[key] = mask
            self._kept_pixels += mask.size
        while self._kept_pixels > KEPT_MASK_PIXELS:
            self._forget(next(iter(self._kept)))
        return clear

    def _forget(self, key):
        """Drop a kept mask, if any."""
        mask = self._kept.pop(key, None)
        if mask is not None:
            self._kept_pixels -= mask.size

    def _clear(self, rows, cols, times):
        """The SCL clear masks of the window at ``times``: those :meth:`clear_masks` kept, the others read."""
        keys = [(rows.start, rows.stop, cols.start, cols.stop, time) for time in times]
        if all(key in self._kept for key in keys):
            masks = [self._kept[key] for key in keys]
            for key in keys:
                self._forget(key)
            return np.stack(masks)
        return self.series.clear(rows, cols, times, self.clear_classes)

    def read(self, rows, cols, times):
        """(DN (t, h, w) by role, clear (t, h, w)) of the window at ``times``. The bands of a date are read only
        where its SCL has a clear pixel in the window (a cloudy date costs no band read; its DN are left 0)."""
        times = [int(time) for time in times]
        clear = self._clear(rows, cols, times)
        seen = [position for position in range(len(times)) if clear[position].any()]
        read = self._read_bands(rows, cols, [times[position] for position in seen])
        dn = {role: np.zeros((len(times),) + values.shape[1:], values.dtype) for role, values in read.items()}
        for role, values in read.items():
            dn[role][seen] = values
        for position in seen:
            nodata = self.series.nodata_by_date[times[position]]
            if nodata is not None:
                clear[position] &= np.logical_and.reduce([values[position] != nodata for values in dn.values()])
        return dn, clear

    def _read_bands(self, rows, cols, times):
        """DN (t, h, w) by role of the window at ``times``."""
        sources = self.series.sources
        if not times:
            return {role: np.zeros((0, rows.stop - rows.start, cols.stop - cols.start), np.int16)
                    for role in ROLE_BANDS}
        if all(len({sources[band][time][0] for band in ROLE_BANDS.values()}) == 1 for time in times):
            # stacks: the role bands of a date in one read
            by_date = [self.series.read_entries([sources[band][time] for band in ROLE_BANDS.values()], rows, cols)
                       for time in times]
            return {role: np.stack([values[number] for values in by_date]) for number, role in enumerate(ROLE_BANDS)}
        # a file per band (netCDF variables, STAC assets): a band's dates in one read
        return {role: self.series.read_entries([sources[band][time] for time in times], rows, cols)
                for role, band in ROLE_BANDS.items()}


class MosaicWindows:
    """Series of several tiles on one pixel grid read as one series in the pixels of the first: every date of every
    tile, a date that several tiles share (one acquisition) once, each pixel from the first tile that observes it
    clear. ``parts`` are (``SeriesWindows``, (row, column) of its origin in the first's pixels, period of each of
    its dates, months each of its dates stands for); the first is the tile whose groups are decided.
    ``period_index`` and ``months_covered`` give those of the merged dates, in the order of :attr:`dates`."""

    def __init__(self, parts):
        self.parts = parts
        first = parts[0][0]
        self.shape, self.block_shape, self.read_target = first.shape, first.block_shape, first.read_target
        self.scale, self.offset = first.scale, first.offset
        takes = {}
        for number, (windows, _, period_index, months) in enumerate(parts):
            for time, (day, period) in enumerate(zip(windows.dates, period_index)):
                if period >= 0:
                    takes.setdefault(day, []).append((number, time))
        self.dates = sorted(takes)
        self.takes = [takes[day] for day in self.dates]
        self.period_index = [parts[number][2][time] for number, time in (found[0] for found in self.takes)]
        self.months_covered = [parts[number][3][time] for number, time in (found[0] for found in self.takes)]
        self.cloud_cover = [parts[number][0].cloud_cover[time] for number, time in (found[0] for found in self.takes)]

    def _inside(self, number, rows, cols):
        """(the part of the window ``rows``, ``cols`` that tile ``number`` covers, in its own pixels; where it goes
        in the window), or None when the tile does not cover it."""
        windows, (top, left), _, _ = self.parts[number]
        inside = (slice(max(rows.start, top), min(rows.stop, top + windows.shape[0])),
                  slice(max(cols.start, left), min(cols.stop, left + windows.shape[1])))
        if inside[0].start >= inside[0].stop or inside[1].start >= inside[1].stop:
            return None
        own = (slice(inside[0].start - top, inside[0].stop - top), slice(inside[1].start - left, inside[1].stop - left))
        return own, (slice(inside[0].start - rows.start, inside[0].stop - rows.start),
                     slice(inside[1].start - cols.start, inside[1].stop - cols.start))

    def clear_masks(self, rows, cols, times):
        """Bool (t, h, w): the pixels of the window clear by the SCL of some tile at the merged ``times``."""
        clear = np.zeros((len(times), rows.stop - rows.start, cols.stop - cols.start), bool)
        for position, time in enumerate(times):
            for number, own_time in self.takes[int(time)]:
                placed = self._inside(number, rows, cols)
                if placed is not None:
                    own, target = placed
                    clear[(position,) + target] |= self.parts[number][0].clear_masks(*own, [own_time])[0]
        return clear

    def read(self, rows, cols, times):
        """(dn by role, clear) of the window ``rows``, ``cols`` at the merged ``times``, as ``SeriesWindows.read``
        gives them; where no tile observes a pixel clear it is not clear."""
        shape = (len(times), rows.stop - rows.start, cols.stop - cols.start)
        clear, dn = np.zeros(shape, bool), None
        for position, time in enumerate(times):
            for number, own_time in self.takes[int(time)]:
                placed = self._inside(number, rows, cols)
                if placed is None:
                    continue
                own, window_part = placed
                values, observed = self.parts[number][0].read(*own, [own_time])
                target = (position,) + window_part
                taken = observed[0] & ~clear[target]
                if not taken.any():  # nothing to take (a cloudy date's bands are not even read)
                    continue
                if dn is None:
                    dn = {role: np.zeros(shape, band.dtype) for role, band in values.items()}
                for role, band in values.items():
                    dn[role][target][taken] = band[0][taken]
                clear[target] |= taken
        if dn is None:
            dn = {role: np.zeros(shape) for role in ROLE_BANDS}
        return dn, clear
