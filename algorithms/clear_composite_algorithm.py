"""``fusionpv:clearcomposite``: per-pixel median of the clear observations of a Sentinel-2 time series."""
import datetime
import os
import tempfile

import numpy as np
from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterDateTime, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..core import composite
from ..core.bands import S2_BANDS, sentinel2_band_name
from ..core.s2_products import date_in_name
from . import gdal_io
from .outputs import check_writable, raster_driver
from .s2_stack import check_one_crs, find_bands, output_grid, write_stack
from .texts import tr

#: Rows composited at once.
STRIP_ROWS = 256
EPOCHS = {"days since 1990-01-01": datetime.date(1990, 1, 1), "days since 1970-01-01": datetime.date(1970, 1, 1)}


class TimeSeries:
    """A time series: for each band name (and for SCL) the (GDAL path, band number or None = all bands) sources
    whose bands, in order, are the dates; with the dates, the grid and the input nodata."""

    def __init__(self, sources, scl, dates, grid, nodata=None):
        self.sources, self.scl, self.dates, self.grid, self.nodata = sources, scl, dates, grid, nodata

    def read(self, name, rows):
        """(t, rows, cols) values of a band (or "SCL") for the rows ``rows``."""
        sources = self.scl if name == "SCL" else self.sources[name]
        return np.concatenate([gdal_io.read_rows(path, rows, band) for path, band in sources], axis=0)


def netcdf_series(path):
    """A :class:`TimeSeries` of an openEO netCDF file (variables B01…B12, SCL; dims t, y, x)."""
    variables, grid, times, units = gdal_io.netcdf_time_series(path)
    if "SCL" not in variables:
        raise QgsProcessingException(tr("INPUT: %s has no variable SCL (the scene classification); it is needed to "
                                        "tell clear observations. Found: %s.") % (path, ", ".join(variables)))
    bands = {name: [(variables[name], None)] for name in S2_BANDS if name in variables}
    if not bands:
        raise QgsProcessingException(tr("INPUT: %s has no Sentinel-2 band variable (B01…B12). Found: %s.")
                                     % (path, ", ".join(variables)))
    epoch = EPOCHS.get(units.strip())
    dates = [epoch + datetime.timedelta(days=t) if epoch and t == t else None for t in times]
    nodata = gdal_io.band_nodata(next(iter(bands.values()))[0][0])
    return TimeSeries(bands, [(variables["SCL"], None)], dates, grid, nodata)


def stacks_series(paths, feedback, folder):
    """A :class:`TimeSeries` of several stacks (GeoTIFFs with band descriptions and SCL) or L2A products."""
    stacks = []
    for number, path in enumerate(paths):
        if path.lower().endswith((".zip", ".xml")) or os.path.isdir(path):
            product = find_bands(path, feedback)
            check_one_crs(product)
            stacked = os.path.join(folder, "stack_%d.tif" % number)
            write_stack(product, output_grid(product, 10), 10, stacked, "GTiff", feedback)
            path = stacked
        stacks.append(path)
    infos = [gdal_io.raster_info(path) for path in stacks]
    if any(info.grid != infos[0].grid for info in infos[1:]):
        raise QgsProcessingException(tr("INPUT: the stacks are on different grids (CRS, extent or pixel size); "
                                        "build them on one grid (Build Sentinel-2 stack, same EXTENT)."))
    sources, scl, dates = {}, [], []
    for path, info in zip(stacks, infos):
        names = [("SCL" if (d or "").upper() == "SCL" else sentinel2_band_name(d)) for d in info.descriptions]
        if "SCL" not in names:
            raise QgsProcessingException(tr("INPUT: %s has no SCL band (scene classification); clear observations "
                                            "cannot be told. Use L2A stacks.") % path)
        for number, name in enumerate(names, start=1):
            if name == "SCL":
                scl.append((path, number))
            elif name:
                sources.setdefault(name, []).append((path, number))
        date = info.metadata.get("DATE")
        dates.append(datetime.date.fromisoformat(date) if date and date != "unknown" else date_in_name(path))
    common = [name for name in S2_BANDS if name in sources and len(sources[name]) == len(stacks)]
    return TimeSeries({name: sources[name] for name in common}, scl, dates, infos[0].grid, composite.OUTPUT_NODATA)


class ClearCompositeAlgorithm(QgsProcessingAlgorithm):
    """Per-pixel median of clear (SCL) observations, int16 DN, and the number of clear observations."""

    INPUT = "INPUT"
    CLEAR_CLASSES = "CLEAR_CLASSES"
    START_DATE = "START_DATE"
    END_DATE = "END_DATE"
    OUTPUT = "OUTPUT"
    OUTPUT_COUNT = "OUTPUT_COUNT"

    def name(self):
        return "clearcomposite"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return tr("Clear-sky composite")

    def group(self):
        return tr("Sentinel-2 input")

    def groupId(self):  # noqa: N802 (QGIS API name)
        return "sentinel2input"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return tr(
            "<p>Per-pixel median of the clear observations of a Sentinel-2 L2A time series. INPUT is an openEO "
            "netCDF file (variables B01…B12 and SCL on dims t, y, x, with its CF crs), or several L2A stacks "
            "(e.g. from Build Sentinel-2 stack, with their SCL band) or L2A products on one grid.</p>"
            "<p>An observation is clear when its scene classification is in CLEAR_CLASSES (default 4 vegetation, "
            "5 not vegetated, 6 water) and within START_DATE–END_DATE when given. The median of an even number "
            "of values is the mean of the two middle ones, rounded half to even. Output: int16 DN per spectral "
            "band with the band descriptions kept, nodata −32768 where no observation is clear; OUTPUT_COUNT: the "
            "number of clear observations per pixel.</p>")

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return ClearCompositeAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUT, tr("Time series (openEO netCDF, or L2A stacks / products)"), QgsProcessing.TypeFile))
        self.addParameter(QgsProcessingParameterString(
            self.CLEAR_CLASSES, tr("Clear SCL classes (comma-separated)"), "4,5,6"))
        for name, label in ((self.START_DATE, tr("From date")), (self.END_DATE, tr("To date"))):
            self.addParameter(QgsProcessingParameterDateTime(name, label, QgsProcessingParameterDateTime.Date,
                                                             optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Clear-sky composite")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_COUNT, tr("Clear observations per pixel"), optional=True))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        count_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_COUNT, context)
        for name, path in ((self.OUTPUT, output), (self.OUTPUT_COUNT, count_path)):
            if path:
                check_writable(name, path)
        classes = self._clear_classes(parameters, context)
        paths = self.parameterAsFileList(parameters, self.INPUT, context)
        if not paths:
            raise QgsProcessingException(tr("INPUT: give an openEO netCDF file or L2A stacks / products."))
        with tempfile.TemporaryDirectory(prefix="fusionpv-composite-") as folder:
            if len(paths) == 1 and paths[0].lower().endswith(".nc"):
                series = netcdf_series(paths[0])
            else:
                series = stacks_series(paths, feedback, folder)
            keep = self._date_filter(parameters, context, series.dates)
            feedback.pushInfo(tr("%d date(s), %d kept; bands %s; clear classes %s") % (
                len(series.dates), int(np.count_nonzero(keep)), ", ".join(series.sources), classes))
            self._write(series, keep, classes, output, count_path, feedback)
        results = {self.OUTPUT: output}
        if count_path:
            results[self.OUTPUT_COUNT] = count_path
        return results

    def _clear_classes(self, parameters, context):
        text = self.parameterAsString(parameters, self.CLEAR_CLASSES, context)
        try:
            classes = tuple(int(part) for part in text.replace(";", ",").split(",") if part.strip())
        except ValueError:
            classes = ()
        if not classes or any(not 0 <= c <= 11 for c in classes):
            raise QgsProcessingException(tr("CLEAR_CLASSES: give SCL class numbers 0–11 separated by commas "
                                            "(got '%s').") % text)
        return classes

    def _date_filter(self, parameters, context, dates):
        keep = np.ones(len(dates), bool)
        for name, compare in ((self.START_DATE, lambda d, limit: d >= limit),
                              (self.END_DATE, lambda d, limit: d <= limit)):
            if parameters.get(name):
                limit = self.parameterAsDateTime(parameters, name, context).date().toPyDate()
                if any(d is None for d in dates):
                    raise QgsProcessingException(tr("%s: the dates of the time series are unknown.") % name)
                keep &= np.array([compare(d, limit) for d in dates])
        if not keep.any():
            raise QgsProcessingException(tr("START_DATE, END_DATE: no observation falls in the date range."))
        return keep

    def _write(self, series, keep, classes, output, count_path, feedback):
        names = list(series.sources)
        writers = [gdal_io.RasterWriter(output, series.grid, np.int16, raster_driver(self.OUTPUT, output),
                                        composite.OUTPUT_NODATA, descriptions=names,
                                        metadata={"COMPOSITE": "per-pixel median of observations with SCL in %s"
                                                  % ",".join(map(str, classes))})]
        if count_path:
            writers.append(gdal_io.RasterWriter(count_path, series.grid, np.uint16,
                                                raster_driver(self.OUTPUT_COUNT, count_path),
                                                description="clear observations"))
        try:
            for top in range(0, series.grid.height, STRIP_ROWS):
                if feedback.isCanceled():
                    raise QgsProcessingException(tr("Cancelled: no output was written."))
                rows = slice(top, min(top + STRIP_ROWS, series.grid.height))
                bands = {name: series.read(name, rows) for name in names}
                medians, count = composite.composite(bands, series.read("SCL", rows), classes, series.nodata, keep)
                for number, name in enumerate(names, start=1):
                    writers[0].write(medians[name], rows, band=number)
                if count_path:
                    writers[1].write(count, rows)
                feedback.setProgress(100.0 * rows.stop / series.grid.height)
            for writer in writers:
                writer.commit()
        except BaseException:
            for writer in writers:
                writer.discard()
            raise
