"""``fusionpv:capacity``: DC capacity of every PV plant and the MW built per year."""
import math

from qgis.core import (NULL, QgsFeature, QgsFields, QgsProcessing, QgsProcessingException,
                       QgsProcessingParameterBoolean, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField, QgsProcessingParameterNumber,
                       QgsWkbTypes)

from ..core import capacity
from ..core.material_flows import MAX_POWER_DENSITY, SOLARSCOPE_POWER_DENSITY
from ..core.over_time import STATUS_FROM_START, STATUS_NOT_SEEN
from ..gisio.capacity import BASIS_FIELD, CAPACITY_FIELDS, PlantMeasure, capacity_values
from ..gisio.plant_layer import STATUS_FIELD
from ..gisio.reports import capacity_report
from ..gisio.tables import make_feature, make_field, make_fields
from .base import FusionPvAlgorithm, Group

#: Year fields looked for, in order, when YEAR_FIELD is not given.
DEFAULT_YEAR_FIELDS = ("first_seen_year", "year")
#: Fields of the yearly table.
YEAR_TABLE_FIELDS = (("year", "int"), ("plants", "int"), ("area_ha", "double"), ("mwdc", "double"),
                     ("mwdc_low", "double"), ("mwdc_high", "double"), ("cumulative_mwdc", "double"),
                     ("cumulative_mwdc_low", "double"), ("cumulative_mwdc_high", "double"))
#: The fields the algorithm adds (replacing those of an earlier run).
OUTPUT_FIELDS = CAPACITY_FIELDS + (BASIS_FIELD,)
OUTPUT_NAMES = {name for name, *_ in OUTPUT_FIELDS}
#: The basis of a plant PV plants over time never saw.
NOT_SEEN_BASIS = "no PV seen (status '%s'): no capacity" % STATUS_NOT_SEEN
#: How many feature ids a message lists at most.
LISTED_IDS = 10


def listed(ids):
    """Feature ids for a message: the first :data:`LISTED_IDS`, and how many more."""
    text = ", ".join(str(i) for i in ids[:LISTED_IDS])
    return text + (" and %d more" % (len(ids) - LISTED_IDS) if len(ids) > LISTED_IDS else "")


class CapacityAlgorithm(FusionPvAlgorithm):
    """MWdc of every plant polygon (with an 80 % interval) and the MW built per year."""
    ID = "capacity"
    DISPLAY_NAME = "PV capacity (MWdc per plant and per year)"
    GROUP = Group.URBAN_MINING
    HELP = (
        "<p>Estimates the DC capacity of every PV plant from its footprint: MWdc = area (ha, on the ellipsoid) × "
        "power density (MWdc/ha). The density is a model fitted on {source} (USGS/LBNL, public domain): it rises "
        "{per_year:.1f} % a year, single-axis trackers sit {tracking:.0f} % below fixed tilt (dual-axis "
        "{dual:.0f} %); for {example_year}, {fixed:.2f} MWdc/ha fixed and {single:.2f} single-axis. Beyond "
        "{last_year} the trend is damped to half its rate. Without a mount, the density is a mixture of fixed and "
        "trackers weighted by the share of trackers expected from the plant's size, latitude and year. Each plant "
        "gets an {interval:.0f} % interval from the fit's residuals; validated on plants newer than the fit and on "
        "states left out (README, \"Capacity\").</p>"
        "<p>YEAR_FIELD: the year built (default: first_seen_year, else year, when INPUT has one; years "
        "{first_year}–{end_year}). A plant without a year gets the newest density with its interval widened down "
        "to the oldest year's; a plant that PV plants over time saw from the first period on (status '{from_start}') "
        "was built in that year or before, and gets the same wider interval. MOUNT_FIELD: fixed-tilt, fixed, "
        "single-axis, tracking, dual-axis; anything else is unknown.</p>"
        "<p>ROOFTOP: the polygons are panels, not plant footprints: MWdc = area / cos(TILT) × POWER_DENSITY "
        "(SolarScope, {solarscope:.0f} W/m²), without interval.</p>"
        "<p>Outputs: the features with capacity_mwdc, capacity_mwdc_low, capacity_mwdc_high and capacity_basis (which "
        "density and why); OUTPUT_YEARS, MW built per year and cumulative with their bounds (the sums of the "
        "plants' bounds, as if their errors were shared); the report charts both.</p>")
    INPUT = "INPUT"
    YEAR_FIELD = "YEAR_FIELD"
    MOUNT_FIELD = "MOUNT_FIELD"
    ROOFTOP = "ROOFTOP"
    TILT = "TILT"
    POWER_DENSITY = "POWER_DENSITY"
    OUTPUT = "OUTPUT"
    OUTPUT_YEARS = "OUTPUT_YEARS"
    DECIMALS = {"TILT": 1, "POWER_DENSITY": 1}
    TOTALS = ("TOTAL_MWDC", "TOTAL_MWDC_LOW", "TOTAL_MWDC_HIGH")

    def help_values(self):
        model = capacity.USPVDB_MODEL
        example = model.years[1]
        return {"source": model.source, "per_year": 100 * math.expm1(model.per_year),
                "tracking": -100 * math.expm1(model.tracking), "dual": -100 * math.expm1(model.dual),
                "example_year": example, "last_year": model.years[1],
                "fixed": math.exp(capacity.log_density(model, example, "fixed")),
                "single": math.exp(capacity.log_density(model, example, "single-axis")),
                "interval": 100 * capacity.INTERVAL, "first_year": capacity.YEAR_RANGE[0],
                "end_year": capacity.YEAR_RANGE[1], "from_start": STATUS_FROM_START,
                "solarscope": SOLARSCOPE_POWER_DENSITY}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("PV plant polygons"), [QgsProcessing.SourceType.TypeVectorAnyGeometry]))
        self.addParameter(QgsProcessingParameterField(
            self.YEAR_FIELD, self.tr("Year built field (default: first_seen_year)"), None, self.INPUT,
            QgsProcessingParameterField.DataType.Any, optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.MOUNT_FIELD, self.tr("Mount field (fixed-tilt, single-axis, …)"), None, self.INPUT,
            QgsProcessingParameterField.DataType.Any, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.ROOFTOP, self.tr("Rooftop panels (SolarScope's density)"), False))
        self.addParameter(QgsProcessingParameterNumber(
            self.TILT, self.tr("Rooftop panel tilt (degrees)"), QgsProcessingParameterNumber.Type.Double, 0.0,
            minValue=0.0, maxValue=89.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.POWER_DENSITY, self.tr("Rooftop power density (W per m² of panel)"),
            QgsProcessingParameterNumber.Type.Double, SOLARSCOPE_POWER_DENSITY, minValue=1.0,
            maxValue=MAX_POWER_DENSITY))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Plants with capacity"), QgsProcessing.SourceType.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_YEARS, self.tr("MW built per year"), QgsProcessing.SourceType.TypeVector, optional=True,
            createByDefault=False))
        self.add_report_and_numbers(self.TOTALS)

    def compute(self, parameters, context, feedback):
        report_path = self.report_path(parameters, context)
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        if QgsWkbTypes.geometryType(source.wkbType()) != QgsWkbTypes.GeometryType.PolygonGeometry:
            raise QgsProcessingException(self.tr(
                "INPUT: the layer holds %s, not polygons; capacity comes from a plant's area, so give PV plant "
                "polygons.") % QgsWkbTypes.displayString(source.wkbType()))
        year_field = self._year_field(parameters, source, context, feedback)
        mount_field = self._field(parameters, self.MOUNT_FIELD, source, context)
        fields = self._output_fields(source.fields())
        out, rows, undated = self._plants_with_capacity(parameters, context, source, year_field, mount_field,
                                                        fields, feedback)
        outputs = {self.OUTPUT: self.write_sink(parameters, self.OUTPUT, context, fields, out, source.wkbType(),
                                                source.sourceCrs())}
        totals = capacity.totals_per_year(rows)
        year_rows = self._year_rows(totals)
        table_fields = make_fields(YEAR_TABLE_FIELDS)
        years_id = self.write_sink(parameters, self.OUTPUT_YEARS, context, table_fields,
                                   [make_feature(table_fields, row) for row in year_rows])
        if years_id is not None:
            outputs[self.OUTPUT_YEARS] = years_id
        for name, (field, *_) in zip(self.TOTALS, CAPACITY_FIELDS):
            outputs[name] = sum(feature.attribute(field) or 0.0 for feature in out)
            feedback.pushInfo("%s = %.3f MW" % (name, outputs[name]))
        if report_path:
            capacity_report(self.staged_file(report_path), year_rows, undated)
            outputs[self.OUTPUT_REPORT] = report_path
        feedback.setProgress(100)
        return outputs

    def _plants_with_capacity(self, parameters, context, source, year_field, mount_field, fields, feedback):
        """(INPUT's features with their capacity, as ``fields``; (year, area m², Capacity) of those with a year;
        how many have none)."""
        features = list(source.getFeatures())
        years = self._years(features, year_field)
        mounts = self._mounts(features, mount_field, feedback)
        has_status = source.fields().lookupField(STATUS_FIELD) >= 0
        statuses = [feature[STATUS_FIELD] if has_status else None for feature in features]
        estimate = self._estimator(parameters, source, context)
        out, rows, zero, undated, unseen = [], [], [], [], []
        for number, feature in enumerate(features):
            self.check_cancelled(feedback)
            plant = None
            if statuses[number] == STATUS_NOT_SEEN:
                unseen.append(feature.id())
            else:
                area_m2, plant = estimate(feature.geometry(), years[number], statuses[number] == STATUS_FROM_START,
                                          mounts[number])
                zero += [feature.id()] if area_m2 == 0 else []
                if years[number] is None:
                    undated.append(feature.id())
                else:
                    rows.append((years[number], area_m2, plant))
            out.append(self._with_capacity(fields, feature, plant))
            feedback.setProgress(80 * (number + 1) / max(len(features), 1))
        self._warn(feedback, zero, undated, statuses.count(STATUS_FROM_START), unseen)
        return out, rows, len(undated)

    # --- the inputs ----------------------------------------------------------------------------------------------

    def _field(self, parameters, name, source, context):
        field = self.parameterAsString(parameters, name, context)
        if field and source.fields().lookupField(field) < 0:
            raise QgsProcessingException(self.tr("%s: INPUT has no field '%s'.") % (name, field))
        return field

    def _year_field(self, parameters, source, context, feedback):
        """YEAR_FIELD, or the first of :data:`DEFAULT_YEAR_FIELDS` INPUT has, or "" (every year unknown)."""
        field = self._field(parameters, self.YEAR_FIELD, source, context)
        if field:
            return field
        for candidate in DEFAULT_YEAR_FIELDS:
            if source.fields().lookupField(candidate) >= 0:
                feedback.pushInfo(self.tr("YEAR_FIELD: the year built is taken from '%s'.") % candidate)
                return candidate
        feedback.pushWarning(self.tr(
            "YEAR_FIELD: INPUT has none of %s and none was chosen: every plant gets the newest density with a wider "
            "interval.") % ", ".join(DEFAULT_YEAR_FIELDS))
        return ""

    def _years(self, features, field):
        """The year built of each feature (None: unknown); non-numbers and years outside the model's range are
        refused, naming the features."""
        if not field:
            return [None] * len(features)
        years, bad = [], []
        for feature in features:
            value = feature[field]
            if value is None or value == NULL or (isinstance(value, str) and not value.strip()):
                years.append(None)
                continue
            try:
                year = float(value)
            except (TypeError, ValueError):
                year = float("nan")
            whole = math.isfinite(year) and year == int(year)
            if not whole or not capacity.YEAR_RANGE[0] <= year <= capacity.YEAR_RANGE[1]:
                bad.append(feature.id())
                continue
            years.append(int(year))
        if bad:
            raise QgsProcessingException(self.tr(
                "YEAR_FIELD: feature(s) %s have in '%s' no whole year from %d to %d; correct them, or empty the "
                "value where the year is unknown.") % (listed(bad), field, *capacity.YEAR_RANGE))
        return years

    def _mounts(self, features, field, feedback):
        """The mount of each feature (``core.capacity.MOUNTS`` or unknown); unknown values are warned of once."""
        if not field:
            return [capacity.UNKNOWN_MOUNT] * len(features)
        mounts, unknown = [], set()
        for feature in features:
            value = feature[field]
            mount = capacity.mount_of(None if value == NULL else value)
            if mount == capacity.UNKNOWN_MOUNT and value not in (None, NULL, ""):
                unknown.add(str(value))
            mounts.append(mount)
        if unknown:
            feedback.pushWarning(self.tr("MOUNT_FIELD: values taken as an unknown mount: %s.")
                                 % ", ".join(sorted(unknown)[:LISTED_IDS]))
        return mounts

    def _estimator(self, parameters, source, context):
        """A function (geometry, year, built by, mount) → (area m², ``core.capacity.Capacity``)."""
        measure = PlantMeasure(source.sourceCrs(), context)
        if self.parameterAsBoolean(parameters, self.ROOFTOP, context):
            tilt = self.parameterAsDouble(parameters, self.TILT, context)
            watts = self.parameterAsDouble(parameters, self.POWER_DENSITY, context)

            def rooftop(geometry, year, built_by, mount):
                area = measure.area.measureArea(geometry)
                return area, capacity.rooftop_capacity(area, tilt, watts)
            return rooftop

        def ground(geometry, year, built_by, mount):
            area = measure.area.measureArea(geometry)
            return area, measure.capacity(geometry, area, year, built_by, mount)
        return ground

    # --- the outputs ---------------------------------------------------------------------------------------------

    @staticmethod
    def _output_fields(input_fields):
        """INPUT's fields (less any capacity fields of an earlier run, which are computed anew) and the capacity
        fields."""
        fields = QgsFields()
        for field in input_fields:
            if field.name() not in OUTPUT_NAMES:
                fields.append(field)
        for spec in OUTPUT_FIELDS:
            fields.append(make_field(*spec))
        return fields

    @staticmethod
    def _with_capacity(fields, feature, plant):
        """``feature`` as a feature of ``fields`` with the capacity of ``plant`` (None: never seen)."""
        out = QgsFeature(fields)
        out.setGeometry(feature.geometry())
        values = [feature[field.name()] for field in fields if field.name() not in OUTPUT_NAMES]
        values += capacity_values(plant) + [plant.basis if plant else NOT_SEEN_BASIS]
        out.setAttributes([round(v, 6) if isinstance(v, float) and math.isfinite(v) else v for v in values])
        return out

    def _warn(self, feedback, zero, undated, from_start, unseen):
        if zero:
            feedback.pushWarning(self.tr("INPUT: feature(s) %s have no area (empty or degenerate geometry): 0 MW.")
                                 % listed(zero))
        if undated:
            feedback.pushWarning(self.tr(
                "YEAR_FIELD: %d plant(s) without a year (%s) get the newest density with a wider interval; they are in "
                "the totals, not in OUTPUT_YEARS.") % (len(undated), listed(undated)))
        if from_start:
            feedback.pushInfo(self.tr(
                "%d plant(s) were %s: built in their first year or before, their interval is wider.")
                % (from_start, STATUS_FROM_START))
        if unseen:
            feedback.pushInfo(self.tr("%d plant(s) were %s by PV plants over time (%s): no capacity.")
                              % (len(unseen), STATUS_NOT_SEEN, listed(unseen)))

    @staticmethod
    def _year_rows(totals):
        """Rows of :data:`YEAR_TABLE_FIELDS` from ``core.capacity.YearTotals``."""
        cumulative = [totals.cumulative(values) for values in (totals.built, totals.built_low, totals.built_high)]
        return [[year, totals.plants[i], float(totals.area_ha[i]), float(totals.built[i]),
                 float(totals.built_low[i]), float(totals.built_high[i])] + [float(c[i]) for c in cumulative]
                for i, year in enumerate(totals.years)]
