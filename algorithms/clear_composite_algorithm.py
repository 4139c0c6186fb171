"""``fusionpv:clearcomposite``: per-pixel median of the clear observations of a Sentinel-2 time series."""
import contextlib

import numpy as np
from qgis.core import QgsProcessingException, QgsProcessingParameterRasterDestination

from ..core import composite
from ..gisio.outputs import natural_colour_on_load, raster_driver
from ..gisio.raster import RasterReadError, RasterWriter
from ..gisio.stac_items import remote_reading
from ..gisio.workspace import WorkFolder
from .base import Group, TimeSeriesAlgorithm

#: Rows composited at once.
STRIP_ROWS = 256


class ClearCompositeAlgorithm(TimeSeriesAlgorithm):
    """Per-pixel median of clear (SCL) observations, int16 DN, and the number of clear observations."""
    ID = "clearcomposite"
    DISPLAY_NAME = "Clear-sky composite"
    GROUP = Group.SENTINEL2_INPUT
    HELP = (
        "<p>Per-pixel median of the clear observations of a Sentinel-2 L2A time series. INPUT is an openEO netCDF "
        "file (variables B01…B12 and SCL on dims t, y, x, with its CF crs), or several L2A stacks (e.g. from Build "
        "Sentinel-2 stack, with their SCL band) or L2A products on one grid, or a STAC ItemCollection of one tile "
        "(from Find Sentinel-2 imagery).</p>"
        "<p>An observation is clear when its scene classification is in CLEAR_CLASSES (default {clear}: "
        "vegetation, not vegetated, water) and within START_DATE–END_DATE when given. The median of an even "
        "number of values is the mean of the two middle ones, rounded half to even. Output: int16 DN per spectral "
        "band with the band descriptions kept, nodata {nodata} where no observation is clear; OUTPUT_COUNT: the "
        "number of clear observations per pixel.</p>")
    OUTPUT = "OUTPUT"
    OUTPUT_COUNT = "OUTPUT_COUNT"

    def help_values(self):
        return {"clear": ", ".join(map(str, composite.DEFAULT_CLEAR_CLASSES)), "nodata": composite.OUTPUT_NODATA}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_time_series_parameters(self.tr("Time series (netCDF, L2A stacks or products)"))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Clear-sky composite")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_COUNT, self.tr("Clear observations per pixel"), optional=True))

    def compute(self, parameters, context, feedback):
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        count_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_COUNT, context)
        classes = self.clear_classes(parameters, context)
        with WorkFolder("composite") as folder:
            series = self.read_time_series(parameters, context, feedback, folder)
            keep = self.date_filter(parameters, context, series.dates)
            feedback.pushInfo(self.tr("%d date(s), %d kept; bands %s; clear classes %s") % (
                len(series.dates), int(np.count_nonzero(keep)), ", ".join(series.sources), classes))
            self._write(series, keep, classes, output, count_path, feedback)
        natural_colour_on_load(context, output)
        results = {self.OUTPUT: output}
        if count_path:
            results[self.OUTPUT_COUNT] = count_path
        return results

    def _write(self, series, keep, classes, output, count_path, feedback):
        names = list(series.sources)
        with contextlib.ExitStack() as writers:  # both written and staged, or both discarded
            composite_writer = writers.enter_context(RasterWriter(
                output, series.grid, np.int16, raster_driver(self.OUTPUT, output), composite.OUTPUT_NODATA,
                descriptions=names, metadata={"COMPOSITE": "per-pixel median of observations with SCL in %s"
                                              % ",".join(map(str, classes))}, stage=self.stage))
            count_writer = writers.enter_context(RasterWriter(
                count_path, series.grid, np.uint16, raster_driver(self.OUTPUT_COUNT, count_path),
                description="clear observations", stage=self.stage)) if count_path else None
            with remote_reading([series]) as fetched:
                for top in range(0, series.grid.height, STRIP_ROWS):
                    self.check_cancelled(feedback)
                    rows = slice(top, min(top + STRIP_ROWS, series.grid.height))
                    bands = {name: series.read(name, rows) for name in names}
                    medians, count = composite.composite(bands, series.read("SCL", rows), classes, series.nodata,
                                                         keep)
                    for number, name in enumerate(names, start=1):
                        composite_writer.write(medians[name], rows, band=number)
                    if count_writer:
                        count_writer.write(count, rows)
                    feedback.setProgress(100.0 * rows.stop / series.grid.height)
            try:
                fetched.check_failures()
            except RasterReadError as error:
                raise QgsProcessingException(self.tr("INPUT: %s; nothing was written.") % error)
        self.log_fetched([fetched.totals], feedback)
        self.warn_mostly_nodata(composite_writer, self.OUTPUT, feedback)
