"""``fusionpv:plantsovertime``: when each PV prior became a plant, per year, quarter or month."""
import tempfile

import numpy as np
from qgis.PyQt.QtGui import QColor
from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessing, QgsProcessingException,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterRasterDestination)

from ..core import composite, over_time
from ..core.periods import (DAY, PERIOD_NAMES, PERIOD_YEAR, months_covered, period_of_dates,
                            periods_covering)
from ..gisio.outputs import categories_on_load, classes_on_load, raster_driver
from ..gisio.plant_layer import (PERIOD_FIELDS, SHAPEFILE_TEXT_WIDTH, STATUS_FIELD, history_features,
                                  history_fields, period_rows)
from ..gisio.raster import GROUP_READ_CACHE_MB, RasterWriter, SmallBlockCache
from ..gisio.reports import plants_over_time_report
from ..gisio.sentinel2 import Sentinel2Image
from ..gisio.tables import make_feature, make_fields
from ..gisio.time_series import SeriesWindows, check_role_bands
from .base import Group, PlantMapping, TimeSeriesAlgorithm


#: Description of the last band of OUTPUT_PERIODS.
FIRST_PERIOD_BAND = "first period with PV"
#: How the plants are drawn by status: (status, legend, colour).
STATUS_STYLE = [(over_time.STATUS_BUILT, "built during the series", "#1a9641"),
                (over_time.STATUS_BUILT_UNCONFIRMED, "built near the end (unconfirmed)", "#a6d96a"),
                (over_time.STATUS_FROM_START, "present from the start", "#2b83ba"),
                (over_time.STATUS_REMOVED, "removed", "#d7191c"),
                (over_time.STATUS_REMOVED_UNCONFIRMED, "removed near the end (unconfirmed)", "#fdae61"),
                (over_time.STATUS_NOT_SEEN, "not seen (prior never confirmed)", "#9e9e9e")]


def first_period_classes(periods):
    """Legend of the first-period band: period number → its label, coloured from blue (first) to red (last)."""
    last = max(len(periods) - 1, 1)
    return [(number + 1, period.label, QColor.fromHsvF(0.66 * (1 - number / last), 0.8, 0.9).name())
            for number, period in enumerate(periods)]


class PlantsOverTimeAlgorithm(PlantMapping, TimeSeriesAlgorithm):
    """Decide every PV prior in every period of a Sentinel-2 time series; date when each plant appeared."""
    ID = "plantsovertime"
    DISPLAY_NAME = "PV plants over time"
    GROUP = Group.PV_MAPPING
    HELP = (
        "<p>Tells when each PV plant appeared. INPUT is a time series: openEO netCDF files (B01…B12 and SCL), or "
        "several Sentinel-2 stacks or composites with a date each (their DATE metadata, or a date in the file name "
        "such as <i>_2021</i>, <i>_2021-06-14</i> or <i>20210614</i>): one composite per year exported from Earth "
        "Engine or openEO can be given directly. Stacks with an SCL band use it (CLEAR_CLASSES, default {clear}); "
        "composites without one count every valid pixel as clear.</p>"
        "<p>For every PERIOD (year, quarter or month) the clear observations are composited (per-pixel median) in "
        "the windows around the priors only, and every prior, trusted or candidate, is decided as the improved "
        "method of Extract PV plants decides a candidate: by its contrast with its own surroundings "
        "(<i>presence_raw</i>; it gives the outline of each period). Then each plant is decided over its whole "
        "series. For every month its PV evidence (0 to 1: the candidate test made continuous, at least 0.5 "
        "exactly where the test passes) is weighted by its clear observations (full weight from {full_weight} "
        "dates); a month is not observed when fewer than {observed:g} % of the prior's pixels are clear, or when "
        "the prior glares (at least {glint:g} × brighter than around it in every band: panels glinting under a "
        "low sun). The plant's life — absent, built, present, removed — is fitted to the whole monthly sequence: "
        "each change must explain the evidence better by {change_cost:g} (a full month of certain evidence counts "
        "1), and the state on either side of a change must persist: at least {support_months} observed months "
        "supporting it, in at least {support_quarters} calendar quarters (a yearly composite stands for its 12 "
        "months). PV shows the same contrast with its surroundings in every season; farmland follows its crop "
        "calendar, so a bright spring or a harvested field is not a plant, and a green summer or snow is not a "
        "removal. A change too close to the end of the series to persist is reported as <i>built (unconfirmed)"
        "</i> or <i>removed (unconfirmed)</i> and does not change the presence. Statuses: <i>present from "
        "start</i>, <i>built</i>, <i>removed</i>, the two unconfirmed ones, and <i>not seen</i>.</p>"
        "<p>OUTPUT: one feature per prior component (latest outline; the prior itself when never seen) with the "
        "fields of Extract PV plants and <i>first_seen</i> (start of the first period of presence), "
        "<i>first_seen_year</i>, <i>construction_period</i> (e.g. 2022-Q3; <i>by 2022-Q1</i> when present from "
        "start), <i>last_seen</i>, <i>periods_present</i>, <i>periods_observed</i>, <i>presence</i> (one character "
        "per period, oldest first: 1 present, 0 absent, - no clear data, from the fitted life), "
        "<i>presence_raw</i> (each period decided alone), <i>status</i>, <i>evidence</i> (one character per "
        "period: its weighted PV evidence in tenths, 0–9, - no data), <i>built_after</i> and <i>built_before</i> "
        "(the last date observed without the plant and the first observed with it; <i>built_before</i> is empty "
        "while the build is unconfirmed), <i>removed_after</i> and <i>removed_before</i> likewise. For Material "
        "flows use YEAR_FIELD = first_seen_year: for plants present from start it is only the first year of the "
        "series (a censored year: they were built then or earlier). OUTPUT_PERIODS: one band per period (1 = PV), "
        "then a band of the first period with PV (shown with a legend of the periods), "
        "OUTPUT_TABLE: plants and PV area per period, OUTPUT_REPORT: a chart of both.</p>")
    PERIOD = "PERIOD"
    OUTPUT_PERIODS = "OUTPUT_PERIODS"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    OUTPUT_REPORT = "OUTPUT_REPORT"

    def help_values(self):
        return {"clear": ", ".join(map(str, composite.DEFAULT_CLEAR_CLASSES)),
                "observed": 100 * over_time.MIN_OBSERVED_SHARE, "full_weight": over_time.FULL_WEIGHT_DATES,
                "glint": over_time.GLINT_RATIO, "change_cost": over_time.CHANGE_COST,
                "support_months": over_time.MIN_SUPPORT_MONTHS, "support_quarters": over_time.MIN_SUPPORT_QUARTERS}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_time_series_parameters(self.tr("Time series (netCDF or dated stacks)"))
        self.addParameter(QgsProcessingParameterEnum(
            self.PERIOD, self.tr("Period"), [self.tr(PERIOD_NAMES[kind]) for kind in sorted(PERIOD_NAMES)],
            defaultValue=PERIOD_YEAR))
        self.add_prior_parameters()
        self.add_min_area_parameter()
        self.add_scale_and_offset()
        self.add_plants_output(self.tr("PV plants over time"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PERIODS, self.tr("PV per period (one band per period, 1 = PV)"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, self.tr("Plants and PV area per period"), QgsProcessing.SourceType.TypeVector,
            optional=True, createByDefault=False))
        self.add_report_and_numbers(())

    def compute(self, parameters, context, feedback):
        kind = self.parameterAsEnum(parameters, self.PERIOD, context)
        classes = self.clear_classes(parameters, context)
        layers = self.prior_layers(parameters, context)
        periods_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_PERIODS, context)
        report = self.report_path(parameters, context)
        with tempfile.TemporaryDirectory(prefix="fusionpv-overtime-") as folder:
            feedback.setProgressText(self.tr("Reading the time series"))
            series = self.read_time_series(parameters, context, feedback, folder, require_scl=False)
            check_role_bands(series, self.INPUT)
            periods, period_index = self._periods(parameters, context, series, kind)
            feedback.pushInfo(self.tr("%d date(s) in %d period(s) (%s to %s); bands %s") % (
                sum(index >= 0 for index in period_index), len(periods), periods[0].label, periods[-1].label,
                ", ".join(series.sources)))
            image = Sentinel2Image(series.grid, self._crs(series), None)
            trusted, candidate = self.prior_sources(layers, image, context, feedback)
            feedback.setProgress(10)
            windows = SeriesWindows(series, self.parameterAsDouble(parameters, self.SCALE, context),
                                    self.parameterAsDouble(parameters, self.OFFSET, context), classes)
            with SmallBlockCache(GROUP_READ_CACHE_MB):  # windows are read in raster order, each once a period
                histories = over_time.plants_over_time(
                    windows, trusted, candidate, periods, period_index,
                    months_covered=months_covered(series.precisions),
                    min_area=self.parameterAsInt(parameters, self.MIN_AREA_PIXELS, context),
                    progress=self.core_progress(feedback, 10, 85))
        self._log_statuses(histories, feedback)
        feedback.setProgressText(self.tr("Building plant polygons"))
        features = history_features(histories, periods, image.grid, image.crs, context, feedback.isCanceled)
        self.check_cancelled(feedback)
        results = {}
        rows = period_rows(histories, periods, image.grid.pixel_area)
        if periods_path:
            self._write_periods(histories, periods, image.grid, periods_path)
            classes_on_load(context, periods_path, first_period_classes(periods), band=len(periods) + 1)
            results[self.OUTPUT_PERIODS] = periods_path
        fields = make_fields(PERIOD_FIELDS)
        table_id = self.write_sink(parameters, self.OUTPUT_TABLE, context, fields,
                                   [make_feature(fields, row) for row in rows])
        if table_id is not None:
            results[self.OUTPUT_TABLE] = table_id
        if report:
            plants_over_time_report(self.staged_file(report), rows, self._status_counts(histories))
            results[self.OUTPUT_REPORT] = report
        results[self.OUTPUT] = self.write_plants(parameters, context, history_fields(len(periods)), features,
                                                 image.crs)
        categories_on_load(context, results[self.OUTPUT], STATUS_FIELD, STATUS_STYLE)
        feedback.setProgress(100)
        return results

    def _periods(self, parameters, context, series, kind):
        """The periods of the run and the period of each date (-1 = outside START_DATE–END_DATE)."""
        undated = [path for path, day in zip(series.files, series.dates) if day is None]
        if undated:
            raise QgsProcessingException(self.tr(
                "INPUT: %s has no date (no DATE metadata and no date such as _2021, _2021-06-14 or 20210614 in its "
                "name); rename it or set its DATE metadata.") % undated[0])
        yearly = [path for path, precision in zip(series.files, series.precisions) if precision != DAY]
        if yearly and kind != PERIOD_YEAR:
            raise QgsProcessingException(self.tr(
                "PERIOD: %s is dated by its year only (a yearly composite); use PERIOD = Year.") % yearly[0])
        keep = self.date_filter(parameters, context, series.dates)
        kept = [day for day, wanted in zip(series.dates, keep) if wanted]
        if len(set(kept)) < 2:
            raise QgsProcessingException(self.tr(
                "INPUT: the time series has a single date (%s) in the date range; give dates of at least two "
                "periods.") % kept[0])
        start, end = self.date_limits(parameters, context)
        periods = periods_covering(start or min(kept), end or max(kept), kind)
        index = [position if wanted else -1 for position, wanted in zip(period_of_dates(series.dates, periods), keep)]
        if len({position for position in index if position >= 0}) < 2:
            raise QgsProcessingException(self.tr(
                "PERIOD: every date falls in one %s (%s); choose a shorter period or give a longer series.")
                % (PERIOD_NAMES[kind].lower(), periods[0].label))
        output = self.destination_file(parameters, self.OUTPUT, context) or ""
        if len(periods) > SHAPEFILE_TEXT_WIDTH and output.lower().endswith((".shp", ".dbf")):
            raise QgsProcessingException(self.tr(
                "PERIOD, OUTPUT: %d periods (%s to %s) do not fit the %d characters of a Shapefile text field "
                "(presence has one per period); write OUTPUT as a GeoPackage (.gpkg) or choose a longer PERIOD.")
                % (len(periods), periods[0].label, periods[-1].label, SHAPEFILE_TEXT_WIDTH))
        return periods, index

    def _crs(self, series):
        crs = QgsCoordinateReferenceSystem.fromWkt(series.grid.crs_wkt)
        if not crs.isValid():
            raise QgsProcessingException(self.tr("INPUT: the time series has no known coordinate reference system."))
        return crs

    @staticmethod
    def _status_counts(histories):
        counts = {}
        for history in histories:
            counts[history.status] = counts.get(history.status, 0) + 1
        return counts

    def _log_statuses(self, histories, feedback):
        for status, count in sorted(self._status_counts(histories).items()):
            feedback.pushInfo(self.tr("%d prior component(s): %s") % (count, status))
        unobserved = sum(all(state == over_time.NO_DATA for state in history.raw) for history in histories)
        if unobserved:
            feedback.pushWarning(self.tr(
                "%d of %d prior component(s) had no clear observation in any period (clouds, snow, nodata or "
                "CLEAR_CLASSES): they are '%s' for lack of data, not because they were seen absent.")
                % (unobserved, len(histories), over_time.STATUS_NOT_SEEN))

    def _write_periods(self, histories, periods, grid, path):
        """One band per period: 1 where a plant is there in that period (its outline then, see
        ``PlantHistory.outline_in``); then a band of the first period with PV (its number from 1, 0 = never)."""
        data_type = np.uint8 if len(periods) < np.iinfo(np.uint8).max else np.uint16
        first = np.zeros((grid.height, grid.width), data_type)
        with RasterWriter(path, grid, data_type, raster_driver(self.OUTPUT_PERIODS, path),
                          descriptions=[period.label for period in periods] + [FIRST_PERIOD_BAND],
                          stage=self.stage) as writer:
            for number in range(len(periods)):
                band = np.zeros((grid.height, grid.width), data_type)
                for history in histories:
                    outline = history.outline_in(number)
                    if outline is not None:
                        band[history.window][outline] = 1
                first[(first == 0) & (band == 1)] = number + 1
                writer.write(band, band=number + 1)
            writer.write(first, band=len(periods) + 1)

