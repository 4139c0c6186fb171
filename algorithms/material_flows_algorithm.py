"""``fusionpv:materialflows``: material stock and end-of-life flows of mapped PV (SolarScope's model)."""
import contextlib
import math

import numpy as np
from qgis.core import (NULL, QgsProcessing, QgsProcessingException, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsWkbTypes)

from ..core import material_flows as mf
from ..core.material_flows import SCENARIOS
from ..core.over_time import STATUS_FROM_START
from ..gisio.plant_layer import STATUS_FIELD
from ..gisio.reports import material_flows_report
from ..gisio.tables import make_feature, make_fields
from ..gisio.vector import ellipsoidal_area
from .base import FusionPvAlgorithm, Group


def table_fields(materials):
    """Fields of the yearly table."""
    totals = ("inflow_m2", "outflow_m2", "stock_m2", "inflow_mw", "stock_mw", "inflow_t", "outflow_t", "stock_t") + \
        tuple("recovered_%s_t" % s for s in SCENARIOS)
    per_material = tuple("%s_%s_t" % (material.name.lower(), flow) for material in materials
                         for flow in ("inflow", "outflow", "stock") + tuple("rec_" + s for s in SCENARIOS))
    return make_fields([("year", "int")] + [(name, "double") for name in totals + per_material])


class MaterialFlowsAlgorithm(FusionPvAlgorithm):
    """Yearly inflow, stock, end-of-life outflow and recovered mass of panel materials."""
    ID = "materialflows"
    DISPLAY_NAME = "PV material stock and end-of-life flows"
    GROUP = Group.URBAN_MINING
    HELP = (
        "<p>Estimates, from mapped PV area and installation years, the material stock in panels and when and how "
        "much of it returns as waste and recoverable material: the dynamic material flow model of SolarScope "
        "(Jiang et al., <code>Peijin-Jiang/SolarScope</code>).</p>"
        "<p>Panel area = mapped horizontal area / cos(TILT). Lifetimes are Weibull: {models} (IRENA/IEA-PVPS "
        "2016); SHAPE and LIFETIME override them (LIFETIME is the mean life for SolarScope, the scale for IRENA). "
        "The mapped area of each cohort is what survives in REFERENCE_YEAR: inflow = area / survival; outflow in "
        "year t = Σ inflow × Weibull density at the cohort's age; stock accumulates inflow − outflow from "
        "{first_year} to END_YEAR. Materials (default: SolarScope's {materials}, kg/m² and recovery rate; or a CSV "
        "with material, kg_per_m2, recovery_rate) turn area into tonnes. Recovered mass after REFERENCE_YEAR = "
        "outflow × collection rate × recovery rate, for the {scenarios} collection scenarios.</p>"
        "<p>INPUT: PV polygons (area from the geometry, ellipsoidal, or from AREA_FIELD in m²) or a table without "
        "geometry with AREA_FIELD. Outputs: a table per year, the totals as numbers (tonnes), and an optional HTML "
        "report with charts.</p>")
    INPUT = "INPUT"
    YEAR_FIELD = "YEAR_FIELD"
    AREA_FIELD = "AREA_FIELD"
    TILT = "TILT"
    LIFETIME_MODEL = "LIFETIME_MODEL"
    SHAPE = "SHAPE"
    LIFETIME = "LIFETIME"
    REFERENCE_YEAR = "REFERENCE_YEAR"
    END_YEAR = "END_YEAR"
    MATERIALS = "MATERIALS"
    POWER_DENSITY = "POWER_DENSITY"
    OUTPUT = "OUTPUT"
    DECIMALS = {"TILT": 1, "SHAPE": 4, "LIFETIME": 1, "POWER_DENSITY": 1}
    TOTALS = ("TOTAL_INFLOW_T", "TOTAL_OUTFLOW_T", "STOCK_END_T", "RECOVERED_IDEAL_T", "RECOVERED_HIGH_T",
              "RECOVERED_LOW_T")

    def help_values(self):
        return {"models": "; ".join(model[0] for model in mf.LIFETIME_MODELS), "first_year": mf.FIRST_YEAR,
                "materials": len(mf.SOLARSCOPE_MATERIALS), "scenarios": ", ".join(s.capitalize() for s in SCENARIOS)}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("PV polygons or table"), [QgsProcessing.SourceType.TypeVector]))
        self.addParameter(QgsProcessingParameterField(
            self.YEAR_FIELD, self.tr("Installation year field"), "year", self.INPUT,
            QgsProcessingParameterField.DataType.Numeric))
        self.addParameter(QgsProcessingParameterField(
            self.AREA_FIELD, self.tr("Area field, m² (empty = geometry's area)"), None, self.INPUT,
            QgsProcessingParameterField.DataType.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.TILT, self.tr("Panel tilt (degrees)"), QgsProcessingParameterNumber.Type.Double, 0.0, minValue=0.0,
            maxValue=89.0))
        self.addParameter(QgsProcessingParameterEnum(
            self.LIFETIME_MODEL, self.tr("Lifetime model"), [self.tr(m[0]) for m in mf.LIFETIME_MODELS], defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SHAPE, self.tr("Weibull shape (override)"), QgsProcessingParameterNumber.Type.Double, optional=True,
            minValue=mf.SHAPE_RANGE[0], maxValue=mf.SHAPE_RANGE[1]))
        self.addParameter(QgsProcessingParameterNumber(
            self.LIFETIME, self.tr("Lifetime, years (overrides the model's)"),
            QgsProcessingParameterNumber.Type.Double, optional=True, minValue=mf.LIFETIME_RANGE[0],
            maxValue=mf.LIFETIME_RANGE[1]))
        self.addParameter(QgsProcessingParameterNumber(
            self.REFERENCE_YEAR, self.tr("Reference year (the year the map shows)"),
            QgsProcessingParameterNumber.Type.Integer,
            2024, minValue=mf.FIRST_YEAR, maxValue=mf.FIRST_YEAR + mf.MAX_YEARS))
        self.addParameter(QgsProcessingParameterNumber(
            self.END_YEAR, self.tr("End year"), QgsProcessingParameterNumber.Type.Integer, 2050, minValue=mf.FIRST_YEAR,
            maxValue=mf.FIRST_YEAR + mf.MAX_YEARS))
        self.addParameter(QgsProcessingParameterFile(
            self.MATERIALS, self.tr("Materials CSV (empty = SolarScope's %d)") % len(mf.SOLARSCOPE_MATERIALS),
            extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.POWER_DENSITY, self.tr("Power density (W per m² of panel)"), QgsProcessingParameterNumber.Type.Double,
            mf.SOLARSCOPE_POWER_DENSITY, minValue=0.0, maxValue=mf.MAX_POWER_DENSITY))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Material flows per year"), QgsProcessing.SourceType.TypeVector))
        self.add_report_and_numbers(self.TOTALS)

    def compute(self, parameters, context, feedback):
        report_path = self.report_path(parameters, context)
        area_by_year = self._area_by_year(parameters, context, feedback)
        with self.model_errors(self.MATERIALS):
            materials_path = self.parameterAsFile(parameters, self.MATERIALS, context)
            materials = mf.read_materials(materials_path) if materials_path else mf.SOLARSCOPE_MATERIALS
        with self.model_errors("%s, %s" % (self.SHAPE, self.LIFETIME)):
            lifetime = mf.lifetime_model(self.parameterAsEnum(parameters, self.LIFETIME_MODEL, context),
                                         self._optional_number(parameters, self.SHAPE, context),
                                         self._optional_number(parameters, self.LIFETIME, context))
        with self.model_errors("%s, %s, %s" % (self.YEAR_FIELD, self.REFERENCE_YEAR, self.END_YEAR)):
            result = mf.material_flows(area_by_year, lifetime,
                                       self.parameterAsInt(parameters, self.REFERENCE_YEAR, context),
                                       self.parameterAsInt(parameters, self.END_YEAR, context), materials)
        feedback.setProgress(60)
        power_density = self.parameterAsDouble(parameters, self.POWER_DENSITY, context)
        dest_id = self.write_sink(parameters, self.OUTPUT, context, table_fields(materials),
                                  self._year_rows(result, power_density))
        outputs = {self.OUTPUT: dest_id, "TOTAL_INFLOW_T": result.total_inflow_t,
                   "TOTAL_OUTFLOW_T": result.total_outflow_t, "STOCK_END_T": result.stock_end_t}
        for scenario in SCENARIOS:
            outputs["RECOVERED_%s_T" % scenario.upper()] = result.total_recovered_t(scenario)
        for name in self.TOTALS:
            feedback.pushInfo("%s = %.2f t" % (name, outputs[name]))
        if report_path:
            material_flows_report(self.staged_file(report_path), result, lifetime, power_density)
            outputs[self.OUTPUT_REPORT] = report_path
        feedback.setProgress(100)
        return outputs

    @contextlib.contextmanager
    def model_errors(self, parameters):
        """Raise the model's complaints as a QgsProcessingException naming ``parameters``."""
        try:
            yield
        except mf.FlowModelError as error:
            raise QgsProcessingException("%s: %s" % (parameters, error))

    def _optional_number(self, parameters, name, context):
        value = parameters.get(name)
        return None if value is None or value == "" else self.parameterAsDouble(parameters, name, context)

    def _area_by_year(self, parameters, context, feedback):
        """Panel area (m²) summed per installation year, from the features of INPUT."""
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        year_field = self.parameterAsString(parameters, self.YEAR_FIELD, context)
        area_field = self.parameterAsString(parameters, self.AREA_FIELD, context)
        for parameter, field in ((self.YEAR_FIELD, year_field), (self.AREA_FIELD, area_field)):
            if field and source.fields().lookupField(field) < 0:
                raise QgsProcessingException(self.tr("%s: INPUT has no field '%s'.") % (parameter, field))
        if not year_field:
            raise QgsProcessingException(self.tr("YEAR_FIELD: choose the field that holds the installation years."))
        if not area_field and QgsWkbTypes.geometryType(source.wkbType()) != QgsWkbTypes.GeometryType.PolygonGeometry:
            raise QgsProcessingException(self.tr(
                "AREA_FIELD: INPUT holds no polygons (%s), so it has no area; give PV polygons or choose the field "
                "holding the area in m².") % QgsWkbTypes.displayString(source.wkbType()))
        tilt = self.parameterAsDouble(parameters, self.TILT, context)
        measure = None if area_field else ellipsoidal_area(source.sourceCrs(), context)
        area_by_year, empty, undated, censored = {}, 0, 0, 0
        has_status = source.fields().lookupField(STATUS_FIELD) >= 0
        for feature in source.getFeatures():
            self.check_cancelled(feedback)
            if feature[year_field] is None or feature[year_field] == NULL:
                undated += 1
                continue
            censored += has_status and feature[STATUS_FIELD] == STATUS_FROM_START
            year = self._installation_year(feature[year_field], feature.id(), year_field)
            if area_field:
                area = self._number(feature[area_field], feature.id(), self.AREA_FIELD, self.tr("area"))
            elif feature.geometry().isEmpty():
                empty += 1
                continue
            else:
                area = measure.measureArea(feature.geometry())
            area_by_year[year] = area_by_year.get(year, 0.0) + mf.panel_area(area, tilt)
        if empty:
            feedback.pushWarning(self.tr("INPUT: %d feature(s) without geometry are left out (they have no area).")
                                 % empty)
        if undated:
            feedback.pushWarning(self.tr("YEAR_FIELD: %d feature(s) without an installation year (NULL, e.g. priors "
                                         "PV plants over time never saw) are left out.") % undated)
        if censored:
            feedback.pushWarning(self.tr(
                "YEAR_FIELD: %d plant(s) were %s (field %s): PV plants over time saw them from the first period on, "
                "so their year is the first of the series, they were built then or earlier; their inflow is counted "
                "in that year.") % (censored, STATUS_FROM_START, STATUS_FIELD))
        if not area_by_year:
            raise QgsProcessingException(self.tr("INPUT: no feature with an area and a year to count."))
        return area_by_year

    def _number(self, value, feature_id, parameter, what):
        """A finite number from an attribute value, or a QgsProcessingException naming the feature."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if value is None or not math.isfinite(number):
            raise QgsProcessingException(self.tr("%s: feature %d has no valid %s (%r).") % (
                parameter, feature_id, what, value))
        return number

    def _installation_year(self, value, feature_id, field):
        """A whole installation year from an attribute value; ``fid`` and other ids are refused by the model's
        first year."""
        year = self._number(value, feature_id, self.YEAR_FIELD, self.tr("installation year"))
        if year != int(year):
            raise QgsProcessingException(self.tr("YEAR_FIELD: feature %d has the year %s; give whole years.")
                                         % (feature_id, value))
        if year < mf.FIRST_YEAR:
            raise QgsProcessingException(self.tr(
                "YEAR_FIELD: feature %d has the year %d in '%s', before %d where the model starts; choose the field "
                "of installation years (e.g. first_seen_year).") % (feature_id, year, field, mf.FIRST_YEAR))
        return int(year)

    @staticmethod
    def _year_rows(result, power_density):
        """One feature per year of the yearly table."""
        fields = table_fields(result.materials)
        flows = {name: result.material_t(getattr(result, name + "_m2")) for name in ("inflow", "outflow", "stock")}
        rows = []
        used = np.flatnonzero((result.inflow_m2 != 0) | (result.outflow_m2 != 0) | (result.stock_m2 != 0))
        start = int(used[0]) if used.size else 0  # no leading years before the first PV
        for i in range(start, len(result.years)):
            values = [int(result.years[i]), result.inflow_m2[i], result.outflow_m2[i], result.stock_m2[i],
                      result.inflow_m2[i] * power_density / 1e6, result.stock_m2[i] * power_density / 1e6,
                      flows["inflow"][i].sum(), flows["outflow"][i].sum(), flows["stock"][i].sum()]
            values += [result.recovered_t[s][i].sum() for s in SCENARIOS]
            for m in range(len(result.materials)):
                values += [flows["inflow"][i, m], flows["outflow"][i, m], flows["stock"][i, m]]
                values += [result.recovered_t[s][i, m] for s in SCENARIOS]
            rows.append(make_feature(fields, [float(v) if not isinstance(v, int) else v for v in values]))
        return rows
