"""``fusionpv:plantsovertime``: when each PV prior became a plant, per year, quarter or month, over one area or
many tiles."""
import os

from qgis.PyQt.QtGui import QColor
from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessing, QgsProcessingException,
                       QgsProcessingParameterBoolean, QgsProcessingParameterEnum, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination)

from ..core import composite, over_time
from ..core.periods import (DAY, PERIOD_NAMES, PERIOD_YEAR, months_covered, period_of_dates,
                            periods_covering)
from ..gisio.outputs import categories_on_load, classes_on_load, raster_driver
from ..gisio.plant_layer import (PERIOD_FIELDS, SHAPEFILE_TEXT_WIDTH, STATUS_FIELD, history_features,
                                  history_fields, period_rows, write_period_bands)
from ..gisio.read_plan import ReadPlan, add_tile
from ..gisio.region import (REUSED, ResultsFolder, SeriesJob, job_windows, neighbours_on_grid, plants_in_order,
                            run_series_job)
from ..gisio.region_inputs import prior_files, series_settings_of
from ..gisio.reports import plants_over_time_report
from ..gisio.stac_items import ItemSeries, counting_fetches, server_did_not_answer
from ..gisio.tables import make_feature, make_fields
from ..gisio.time_series import check_role_bands
from ..gisio.vector import InCrs
from ..gisio.workspace import WorkFolder
from .base import Group, PlantMapping, RegionMapping, TimeSeriesAlgorithm


#: How the plants are drawn by status: (status, legend, colour).
STATUS_STYLE = [(over_time.STATUS_BUILT, "built during the series", "#1a9641"),
                (over_time.STATUS_BUILT_UNCONFIRMED, "built near the end (unconfirmed)", "#a6d96a"),
                (over_time.STATUS_FROM_START, "present from the start", "#2b83ba"),
                (over_time.STATUS_REMOVED, "removed", "#d7191c"),
                (over_time.STATUS_REMOVED_UNCONFIRMED, "removed near the end (unconfirmed)", "#fdae61"),
                (over_time.STATUS_NOT_SEEN, "not seen (prior never confirmed)", "#9e9e9e")]


def tile_name(series):
    """The name of a tile of the series: its file, or its folder, first file and how many files follow."""
    if getattr(series, "tile", None):
        return series.tile
    files = list(dict.fromkeys(series.files))
    if len(files) == 1:
        return os.path.basename(files[0])
    return "%s (and %d more files)" % (os.path.join(*os.path.abspath(files[0]).split(os.sep)[-2:]), len(files) - 1)


def duration(seconds):
    """``seconds`` as a person reads a duration: 45 s, 12 min, 3 h 20 min."""
    if seconds < 60:
        return "%.0f s" % seconds
    if seconds < 3600:
        return "%.0f min" % (seconds / 60)
    return "%d h %02d min" % (seconds // 3600, seconds % 3600 // 60)


def first_period_classes(periods):
    """Legend of the first-period band: period number → its label, coloured from blue (first) to red (last)."""
    last = max(len(periods) - 1, 1)
    return [(number + 1, period.label, QColor.fromHsvF(0.66 * (1 - number / last), 0.8, 0.9).name())
            for number, period in enumerate(periods)]


class PlantsOverTimeAlgorithm(RegionMapping, PlantMapping, TimeSeriesAlgorithm):
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
        "OUTPUT_TABLE: plants and PV area per period, OUTPUT_REPORT: a chart of both.</p>"
        "<p><b>Many tiles.</b> INPUT may cover several areas: netCDF files of different areas, stacks of several "
        "tiles and UTM zones. The files on one grid form a tile. As in <i>Map PV plants over a region</i>, each "
        "prior group is decided once, by the tile whose footprint holds its window and where its centre lies "
        "deepest, with every date of every tile on the same pixel grid that covers the window (a date several "
        "tiles have counts once; tiles of another UTM zone are not merged in); the plants come out once in "
        "OUTPUT_CRS (default: the first tile's CRS) with the "
        "fields <i>tile</i> and <i>at_tile_edge</i> (1: the plant reaches an edge of its tile beyond which another "
        "tile goes on, and may be a piece). OUTPUT_PERIODS is a raster on one grid: it needs a series of one "
        "tile.</p>"
        "<p><b>Observations per month</b> (advanced). The bands of a date are read only where the decision needs "
        "them. Per calendar month the SCL of every prior window is read first; then the windows of one cell of "
        "{cell} px (a block of Earth Search's COGs) choose their dates together: as few as give each prior "
        "OBSERVATIONS_PER_MONTH dates that observe it (default {per_month}, as many as give a month full weight), "
        "the date that serves the most windows first, then the least cloudy scene, then the month's ends (so "
        "that the dates of a change are as close as the month allows). A month whose chosen dates do not settle "
        "it — one date within {margin:g} of the evidence level, or the dates on both sides of it, or a composite "
        "that glares — reads every date that observes the prior: a median of two is their mean, and an odd date "
        "(haze, a glint, snow) must not decide the month. 0 reads every date that observes a prior. A date clear "
        "on fewer than {observed:g} % of a prior is never composited for it (its clear pixels lie along clouds). "
        "<i>built_after</i> and <i>built_before</i> are dates whose bands were read; <i>presence_raw</i> decides "
        "each period on them.</p>"
        "<p><b>The cost first.</b> Before a catalogue run reads a pixel, the log gives its plan: items, tiles, "
        "windows of prior groups, dates, and the megabytes the reads will fetch, from the COG headers (the "
        "compressed blocks the windows touch, each date weighed by the chance it is read given its scene cloud "
        "cover), with the time at 10, 50 and 100 MB/s; after the run, what was fetched against it. ESTIMATE_ONLY "
        "(advanced) reads the headers only, writes nothing and returns PLANNED_MB.</p>"
        "<p><b>A stopped run resumes.</b> Each tile's results are kept in OUTPUT.tiles as they finish, and within "
        "a tile what each row of prior groups decided, period by period: a rerun with the same settings reads "
        "again only what was being read when the run stopped (killed, cancelled, or a server that did not "
        "answer).</p>" + RegionMapping.ENGINE_HELP)
    PERIOD = "PERIOD"
    OBSERVATIONS_PER_MONTH = "OBSERVATIONS_PER_MONTH"
    ESTIMATE_ONLY = "ESTIMATE_ONLY"
    PLANNED_MB = "PLANNED_MB"
    OUTPUT_PERIODS = "OUTPUT_PERIODS"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    OUTPUT_REPORT = "OUTPUT_REPORT"

    def help_values(self):
        return {"clear": ", ".join(map(str, composite.DEFAULT_CLEAR_CLASSES)),
                "observed": 100 * over_time.MIN_OBSERVED_SHARE, "full_weight": over_time.FULL_WEIGHT_DATES,
                "per_month": over_time.OBSERVATIONS_PER_MONTH, "cell": over_time.SHARED_CELL,
                "margin": over_time.SETTLED_MARGIN,
                "glint": over_time.GLINT_RATIO, "change_cost": over_time.CHANGE_COST,
                "support_months": over_time.MIN_SUPPORT_MONTHS, "support_quarters": over_time.MIN_SUPPORT_QUARTERS}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_time_series_parameters(self.tr("Time series (netCDF or dated stacks)"))
        self.addParameter(QgsProcessingParameterEnum(
            self.PERIOD, self.tr("Period"), [self.tr(PERIOD_NAMES[kind]) for kind in sorted(PERIOD_NAMES)],
            defaultValue=PERIOD_YEAR))
        self.add_prior_parameters()
        self.add_min_area_parameter()
        self.add_advanced([QgsProcessingParameterNumber(
            self.OBSERVATIONS_PER_MONTH, self.tr("Dates read per prior and month (0 = all)"),
            QgsProcessingParameterNumber.Type.Integer, over_time.OBSERVATIONS_PER_MONTH, minValue=0, maxValue=31),
            QgsProcessingParameterBoolean(self.ESTIMATE_ONLY, self.tr("Only estimate what a catalogue run fetches"),
                                          defaultValue=False)])
        self.add_engine_parameters(self.tr("CRS of the plants (empty: the first tile's)"), advanced=True)
        self.add_scale_and_offset()
        self.add_plants_output(self.tr("PV plants over time"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PERIODS, self.tr("PV per period (one band per period, 1 = PV)"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, self.tr("Plants and PV area per period"), QgsProcessing.SourceType.TypeVector,
            optional=True, createByDefault=False))
        self.add_tiles_output(self.tr("Tiles (status, plants, seconds, error)"))
        self.add_report_and_numbers((self.PLANNED_MB,))

    def compute(self, parameters, context, feedback):
        kind = self.parameterAsEnum(parameters, self.PERIOD, context)
        classes = self.clear_classes(parameters, context)
        layers = self.prior_layers(parameters, context)
        engine = self.engine(parameters, context, feedback)
        with WorkFolder("overtime") as folder:
            feedback.setProgressText(self.tr("Reading the time series"))
            tiles = self.read_time_series(parameters, context, feedback, folder, require_scl=False, by_grid=True)
            for series in tiles:
                check_role_bands(series, self.INPUT)
            crss = [self._crs(series) for series in tiles]
            periods, indexes = self._periods(parameters, context, tiles, kind)
            self._check_one_grid_for_periods(parameters, context, tiles)
            feedback.pushInfo(self.tr("%d date(s) in %d period(s) (%s to %s) over %d tile(s); bands %s") % (
                sum(index >= 0 for tile in indexes for index in tile), len(periods), periods[0].label,
                periods[-1].label, len(tiles), ", ".join(tiles[0].sources)))
            output_crs = self.output_crs(parameters, context, crss[0])
            if self.parameterAsBoolean(parameters, self.ESTIMATE_ONLY, context):
                return self.estimate_only(parameters, context, feedback, tiles, periods, indexes, classes, layers,
                                          folder)
            return self.in_results_folder(parameters, context, lambda folder_path: self.map_over_time(
                parameters, context, feedback, tiles, periods, indexes, classes, layers, engine, output_crs,
                folder_path))

    def estimate_only(self, parameters, context, feedback, tiles, periods, indexes, classes, layers, folder):
        """ESTIMATE_ONLY: the plan of the run from the COG headers, and nothing written."""
        if not any(isinstance(series, ItemSeries) for series in tiles):
            raise QgsProcessingException(self.tr(
                "ESTIMATE_ONLY: the time series is read from files, not from a catalogue, so there is nothing to "
                "fetch; run without ESTIMATE_ONLY."))
        priors = os.path.join(folder, "priors")
        os.makedirs(priors, exist_ok=True)
        jobs = self.job_maker(parameters, context, feedback, tiles, periods, indexes, classes, layers, priors, {})
        plan = self.plan_reads(tiles, indexes, jobs, parameters, context, feedback)
        return {self.PLANNED_MB: plan.bytes / 1e6}

    def map_over_time(self, parameters, context, feedback, tiles, periods, indexes, classes, layers, engine,
                      output_crs, folder_path):
        """The run once the series and the periods are known and the results folder is claimed."""
        make_job = self.job_maker(parameters, context, feedback, tiles, periods, indexes, classes, layers,
                                  folder_path, dict(results_folder=folder_path))
        folder = ResultsFolder(folder_path, make_job.settings)
        workers, scheduler = engine
        parts = 1 if scheduler else max(1, workers // len(tiles))
        plan = self.plan_reads(tiles, indexes, make_job, parameters, context, feedback)
        names = [tile_name(series) for series in tiles]
        # a tile whose server did not answer is not rescued by its neighbours: the run stops, to be resumed
        done, results = self.run_region(names, make_job, run_series_job, folder, engine, parts, feedback,
                                        stops_the_run=server_did_not_answer)
        self.log_fetched([result.get("fetched") for result in done], feedback)
        self.log_against_plan(plan, done, feedback)
        plants = plants_in_order(done)
        histories = [values["history"] for _, _, values in plants]
        self._log_statuses(histories, feedback)
        feedback.setProgressText(self.tr("Building plant polygons"))
        in_crs = InCrs(output_crs, context)
        features = history_features(
            [(in_crs.geometry(wkb, result["crs_wkt"]), values["history"], names[result["tile"]],
              values["at_tile_edge"]) for result, wkb, values in plants],
            periods, output_crs, context, feedback.isCanceled)
        self.check_cancelled(feedback)
        self.warn_of_pieces(features, feedback)
        outputs = self.write_tiles(parameters, context, names, results, plants)
        rows = period_rows(histories, periods, [values["pixel_area"] for _, _, values in plants])
        periods_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_PERIODS, context)
        if periods_path:
            write_period_bands(histories, periods, tiles[0].grid, periods_path,
                               raster_driver(self.OUTPUT_PERIODS, periods_path), self.stage)
            classes_on_load(context, periods_path, first_period_classes(periods), band=len(periods) + 1)
            outputs[self.OUTPUT_PERIODS] = periods_path
        fields = make_fields(PERIOD_FIELDS)
        table_id = self.write_sink(parameters, self.OUTPUT_TABLE, context, fields,
                                   [make_feature(fields, row) for row in rows])
        if table_id is not None:
            outputs[self.OUTPUT_TABLE] = table_id
        report = self.report_path(parameters, context)
        if report:
            plants_over_time_report(self.staged_file(report), rows, self._status_counts(histories))
            outputs[self.OUTPUT_REPORT] = report
        outputs[self.OUTPUT] = self.write_plants(parameters, context, history_fields(len(periods)), features,
                                                 output_crs)
        categories_on_load(context, outputs[self.OUTPUT], STATUS_FIELD, STATUS_STYLE)
        feedback.setProgress(100)
        return outputs

    def job_maker(self, parameters, context, feedback, tiles, periods, indexes, classes, layers, folder_path,
                  extra):
        """``make_job(tile, part, parts, failed=())``: a ``SeriesJob`` of the run (its priors copied into
        ``folder_path``; ``extra``: more fields of the jobs); ``make_job.settings``: what its results depend on."""
        min_area = self.parameterAsInt(parameters, self.MIN_AREA_PIXELS, context)
        scale = self.parameterAsDouble(parameters, self.SCALE, context)
        offset = self.parameterAsDouble(parameters, self.OFFSET, context)
        per_month = self.parameterAsInt(parameters, self.OBSERVATIONS_PER_MONTH, context)
        priors = [prior_files(role_layers, parameter, folder_path, context, feedback)
                  for role_layers, parameter in zip(layers, (self.TRUSTED_PRIORS, self.CANDIDATE_PRIORS))]
        grids = [series.grid for series in tiles]

        def make_job(number, part, parts, failed=()):
            series = tiles[number]
            neighbours = tuple((other, tiles[other], indexes[other], months_covered(tiles[other].precisions))
                               for other in neighbours_on_grid(number, grids) if other not in failed)
            return SeriesJob(number, part, parts, series, scale, offset, classes, priors[0], priors[1], min_area,
                             grids, periods, indexes[number], months_covered(series.precisions),
                             neighbours=neighbours, failed=failed, observations_per_month=per_month, **extra)
        make_job.settings = series_settings_of(
            tiles, priors, min_area=min_area, scale=scale, offset=offset, clear_classes=classes, periods=periods,
            indexes=indexes, observations_per_month=per_month)
        return make_job

    def plan_reads(self, tiles, indexes, make_job, parameters, context, feedback):
        """Log the plan of the reads from a catalogue (items, tiles, windows, dates, bytes from the COG headers)
        before any is made; None when no tile is read from a catalogue."""
        catalogue = [number for number, series in enumerate(tiles) if isinstance(series, ItemSeries)]
        if not catalogue:
            return None
        feedback.setProgressText(self.tr("Planning the reads from the COG headers"))
        per_month = self.parameterAsInt(parameters, self.OBSERVATIONS_PER_MONTH, context)
        plan = ReadPlan()
        with counting_fetches() as counted:  # the headers
            for number in catalogue:
                self.check_cancelled(feedback)
                add_tile(plan, tiles[number], job_windows(make_job(number, 0, 1)), indexes[number], per_month,
                         feedback.isCanceled)
        self.fetched_planning = dict(counted.totals, file_bytes={})
        self.check_cancelled(feedback)
        for item, band, error in plan.unreadable[:5]:
            feedback.pushWarning(self.tr("Item %s: the header of %s cannot be read (%s); it is not in the plan.")
                                 % (item, band, error))
        feedback.pushInfo(self.tr(
            "Plan: %d item(s) on %d tile(s), %d window(s) of prior groups, %d date(s) in the run. The reads will "
            "fetch about %.1f MB (SCL %.1f MB, bands %.1f MB; %d observation(s) a month): %.1f MB if the windows "
            "of a block were clear or cloudy together, at most %.1f MB if every window read every date. At 10, 50 "
            "and 100 MB/s: %s.") % (
                plan.items, plan.tiles, plan.windows, plan.dates, plan.bytes / 1e6, plan.scl_bytes / 1e6,
                plan.band_bytes / 1e6, per_month, plan.least_bytes / 1e6, plan.most_bytes / 1e6,
                ", ".join(duration(plan.bytes / (rate * 1e6)) for rate in (10, 50, 100))))
        return plan

    def log_against_plan(self, plan, done, feedback):
        """After the run: what the jobs fetched against the plan."""
        if plan is None or not plan.bytes or any(result["status"] == REUSED for result in done):
            return  # a resumed run fetches only part of the plan
        fetched = sum((result.get("fetched") or {}).get("bytes", 0) for result in done)
        feedback.pushInfo(self.tr("Against the plan: the windows' reads fetched %.1f MB of %.1f MB planned (%+.1f %%).")
                          % (fetched / 1e6, plan.bytes / 1e6, 100.0 * (fetched - plan.bytes) / plan.bytes))

    def _check_one_grid_for_periods(self, parameters, context, tiles):
        """OUTPUT_PERIODS is a raster on the grid of the series: refused when the series has several."""
        if len(tiles) > 1 and self.parameterAsOutputLayer(parameters, self.OUTPUT_PERIODS, context):
            raise QgsProcessingException(self.tr(
                "OUTPUT_PERIODS: the time series lies on %d grids (tiles or areas: %s is on another grid than %s), "
                "and the per-period raster needs one; leave OUTPUT_PERIODS empty (the plants and OUTPUT_TABLE "
                "cover every tile), or run each tile alone.") % (len(tiles), tiles[1].files[0], tiles[0].files[0]))

    def _periods(self, parameters, context, tiles, kind):
        """The periods of the run (over the dates of every tile) and, per tile, the period of each of its dates
        (-1 = outside START_DATE–END_DATE)."""
        files = [path for series in tiles for path in series.files]
        dates = [day for series in tiles for day in series.dates]
        undated = [path for path, day in zip(files, dates) if day is None]
        if undated:
            raise QgsProcessingException(self.tr(
                "INPUT: %s has no date (no DATE metadata and no date such as _2021, _2021-06-14 or 20210614 in its "
                "name); rename it or set its DATE metadata.") % undated[0])
        yearly = [path for series in tiles for path, precision in zip(series.files, series.precisions)
                  if precision != DAY]
        if yearly and kind != PERIOD_YEAR:
            raise QgsProcessingException(self.tr(
                "PERIOD: %s is dated by its year only (a yearly composite); use PERIOD = Year.") % yearly[0])
        keep = self.date_filter(parameters, context, dates)
        kept = [day for day, wanted in zip(dates, keep) if wanted]
        if len(set(kept)) < 2:
            raise QgsProcessingException(self.tr(
                "INPUT: the time series has a single date (%s) in the date range; give dates of at least two "
                "periods.") % kept[0])
        start, end = self.date_limits(parameters, context)
        periods = periods_covering(start or min(kept), end or max(kept), kind)
        index = [position if wanted else -1 for position, wanted in zip(period_of_dates(dates, periods), keep)]
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
        indexes, first = [], 0
        for series in tiles:
            indexes.append([int(position) for position in index[first:first + len(series.dates)]])
            first += len(series.dates)
        return periods, indexes

    def _crs(self, series):
        crs = QgsCoordinateReferenceSystem.fromWkt(series.grid.crs_wkt)
        if not crs.isValid():
            raise QgsProcessingException(self.tr("INPUT: the time series of %s has no known coordinate reference "
                                                 "system.") % series.files[0])
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
