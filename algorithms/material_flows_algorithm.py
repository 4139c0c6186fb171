"""``fusionpv:materialflows``: material stock and end-of-life flows of mapped PV (SolarScope's model)."""
import numpy as np
from qgis.PyQt.QtCore import QVariant
from qgis.core import (QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessing, QgsProcessingAlgorithm,
                       QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber, QgsWkbTypes)

from ..core import material_flows as mf
from .extract_pv_plants_algorithm import ellipsoidal_area
from .html_report import figure_html, pyplot, table_html, write_page
from .outputs import check_writable
from .texts import tr

SCENARIOS = ("ideal", "high", "low")


def table_fields(materials):
    """Fields of the yearly table."""
    fields = QgsFields()
    fields.append(QgsField("year", QVariant.Int))
    for name in ("inflow_m2", "outflow_m2", "stock_m2", "inflow_mw", "stock_mw", "inflow_t", "outflow_t",
                 "stock_t") + tuple("recovered_%s_t" % s for s in SCENARIOS):
        fields.append(QgsField(name, QVariant.Double))
    for material in materials:
        for flow in ("inflow", "outflow", "stock") + tuple("rec_" + s for s in SCENARIOS):
            fields.append(QgsField("%s_%s_t" % (material.name.lower(), flow), QVariant.Double))
    return fields


class MaterialFlowsAlgorithm(QgsProcessingAlgorithm):
    """Yearly inflow, stock, end-of-life outflow and recovered mass of panel materials."""

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
    OUTPUT_REPORT = "OUTPUT_REPORT"
    TOTALS = ("TOTAL_INFLOW_T", "TOTAL_OUTFLOW_T", "STOCK_END_T", "RECOVERED_IDEAL_T", "RECOVERED_HIGH_T",
              "RECOVERED_LOW_T")

    def name(self):
        return "materialflows"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return tr("PV material stock and end-of-life flows")

    def group(self):
        return tr("Urban mining")

    def groupId(self):  # noqa: N802 (QGIS API name)
        return "urbanmining"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return tr(
            "<p>Estimates, from mapped PV area and installation years, the material stock in panels and when and "
            "how much of it returns as waste and recoverable material: the dynamic material flow model of "
            "SolarScope (Jiang et al., <code>Peijin-Jiang/SolarScope</code>).</p>"
            "<p>Panel area = mapped horizontal area / cos(TILT). Lifetimes are Weibull: SolarScope (shape 5.37, "
            "mean life 30 y), IRENA regular loss (shape 5.3759, scale 30 y) or IRENA early loss (shape 2.4928, "
            "scale 30 y; IRENA/IEA-PVPS 2016); SHAPE and LIFETIME override them (LIFETIME is the mean life for "
            "SolarScope, the scale for IRENA). The mapped area of each cohort is what survives in REFERENCE_YEAR: "
            "inflow = area / survival; outflow in year t = Σ inflow × Weibull density at the cohort's age; "
            "stock accumulates inflow − outflow from 2000 to END_YEAR. Materials (default: SolarScope's 13, kg/m² "
            "and recovery rate; or a CSV with material, kg_per_m2, recovery_rate) turn area into tonnes. "
            "Recovered mass after REFERENCE_YEAR = outflow × collection rate × recovery rate, for the Ideal "
            "(100 %), High and Low collection scenarios.</p>"
            "<p>INPUT: PV polygons (area from the geometry, ellipsoidal, or from AREA_FIELD in m²) or a table "
            "without geometry with AREA_FIELD. Outputs: a table per year, the totals as numbers (tonnes), and an "
            "optional HTML report with charts.</p>")

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return MaterialFlowsAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, tr("PV polygons or table"), [QgsProcessing.TypeVector]))
        self.addParameter(QgsProcessingParameterField(
            self.YEAR_FIELD, tr("Installation year field"), None, self.INPUT, QgsProcessingParameterField.Numeric))
        self.addParameter(QgsProcessingParameterField(
            self.AREA_FIELD, tr("Area field (m², horizontal); empty = area of the geometry"), None, self.INPUT,
            QgsProcessingParameterField.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.TILT, tr("Panel tilt (degrees)"), QgsProcessingParameterNumber.Double, 0.0, minValue=0.0,
            maxValue=89.0))
        self.addParameter(QgsProcessingParameterEnum(
            self.LIFETIME_MODEL, tr("Lifetime model"), [tr(m[0]) for m in mf.LIFETIME_MODELS], defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SHAPE, tr("Weibull shape (override)"), QgsProcessingParameterNumber.Double, optional=True,
            minValue=0.01))
        self.addParameter(QgsProcessingParameterNumber(
            self.LIFETIME, tr("Lifetime in years (override: mean life for SolarScope, scale for IRENA)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.1))
        self.addParameter(QgsProcessingParameterNumber(
            self.REFERENCE_YEAR, tr("Reference year (the year the map shows)"), QgsProcessingParameterNumber.Integer,
            2024, minValue=mf.FIRST_YEAR))
        self.addParameter(QgsProcessingParameterNumber(
            self.END_YEAR, tr("End year"), QgsProcessingParameterNumber.Integer, 2050, minValue=mf.FIRST_YEAR))
        self.addParameter(QgsProcessingParameterFile(
            self.MATERIALS, tr("Materials CSV (material, kg_per_m2, recovery_rate); empty = SolarScope's 13"),
            extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.POWER_DENSITY, tr("Power density (W per m² of panel)"), QgsProcessingParameterNumber.Double,
            mf.SOLARSCOPE_POWER_DENSITY, minValue=0.0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, tr("Material flows per year"), QgsProcessing.TypeVector))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, tr("Report"), tr("HTML files (*.html)"), optional=True, createByDefault=False))
        for name in self.TOTALS:
            self.addOutput(QgsProcessingOutputNumber(name, name.replace("_", " ").capitalize()))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        report_path = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        if report_path:
            check_writable(self.OUTPUT_REPORT, report_path)
        area_by_year = self._area_by_year(parameters, context, feedback)
        try:
            materials = mf.SOLARSCOPE_MATERIALS
            materials_path = self.parameterAsFile(parameters, self.MATERIALS, context)
            if materials_path:
                materials = mf.read_materials(materials_path)
            lifetime = mf.lifetime_model(self.parameterAsEnum(parameters, self.LIFETIME_MODEL, context),
                                         self._optional_number(parameters, self.SHAPE, context),
                                         self._optional_number(parameters, self.LIFETIME, context))
            result = mf.material_flows(area_by_year, lifetime,
                                       self.parameterAsInt(parameters, self.REFERENCE_YEAR, context),
                                       self.parameterAsInt(parameters, self.END_YEAR, context), materials)
        except mf.FlowModelError as error:
            raise QgsProcessingException(str(error))
        feedback.setProgress(60)
        power_density = self.parameterAsDouble(parameters, self.POWER_DENSITY, context)
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, table_fields(materials),
                                             QgsWkbTypes.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        sink.addFeatures(self._year_rows(result, power_density), QgsFeatureSink.FastInsert)
        outputs = {self.OUTPUT: dest_id, "TOTAL_INFLOW_T": result.total_inflow_t,
                   "TOTAL_OUTFLOW_T": result.total_outflow_t, "STOCK_END_T": result.stock_end_t}
        for scenario in SCENARIOS:
            outputs["RECOVERED_%s_T" % scenario.upper()] = result.total_recovered_t(scenario)
        for name in self.TOTALS:
            feedback.pushInfo("%s = %.2f t" % (name, outputs[name]))
        if report_path:
            write_report(report_path, result, lifetime, power_density)
            outputs[self.OUTPUT_REPORT] = report_path
        feedback.setProgress(100)
        return outputs

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
                raise QgsProcessingException(tr("%s: INPUT has no field '%s'.") % (parameter, field))
        if not area_field and source.wkbType() in (QgsWkbTypes.NoGeometry, QgsWkbTypes.Unknown):
            raise QgsProcessingException(tr("AREA_FIELD: INPUT has no geometry; choose the field holding the area "
                                            "in m²."))
        tilt = self.parameterAsDouble(parameters, self.TILT, context)
        measure = None if area_field else ellipsoidal_area(source.sourceCrs(), context)
        area_by_year = {}
        for feature in source.getFeatures():
            if feedback.isCanceled():
                raise QgsProcessingException(tr("Cancelled: no output was written."))
            year = feature[year_field]
            if year is None or year != year:
                raise QgsProcessingException(tr("YEAR_FIELD: feature %d has no installation year.") % feature.id())
            area = feature[area_field] if area_field else measure.measureArea(feature.geometry())
            if area is None:
                raise QgsProcessingException(tr("AREA_FIELD: feature %d has no area.") % feature.id())
            area_by_year[int(year)] = area_by_year.get(int(year), 0.0) + mf.panel_area(float(area), tilt)
        if not area_by_year:
            raise QgsProcessingException(tr("INPUT: no feature to count."))
        return area_by_year

    @staticmethod
    def _year_rows(result, power_density):
        """One feature per year of the yearly table."""
        fields = table_fields(result.materials)
        flows = {name: result.material_t(getattr(result, name + "_m2")) for name in ("inflow", "outflow", "stock")}
        rows = []
        for i, year in enumerate(result.years):
            values = [int(year), result.inflow_m2[i], result.outflow_m2[i], result.stock_m2[i],
                      result.inflow_m2[i] * power_density / 1e6, result.stock_m2[i] * power_density / 1e6,
                      flows["inflow"][i].sum(), flows["outflow"][i].sum(), flows["stock"][i].sum()]
            values += [result.recovered_t[s][i].sum() for s in SCENARIOS]
            for m in range(len(result.materials)):
                values += [flows["inflow"][i, m], flows["outflow"][i, m], flows["stock"][i, m]]
                values += [result.recovered_t[s][i, m] for s in SCENARIOS]
            feature = QgsFeature(fields)
            feature.setAttributes([float(v) if not isinstance(v, int) else v for v in values])
            rows.append(feature)
        return rows


def write_report(path, result, lifetime, power_density):
    """HTML report: stacked areas of stock and end-of-life flows by material, recovered mass per scenario."""
    plt = pyplot()
    names = [m.name for m in result.materials]
    order = np.argsort([-m.kg_per_m2 for m in result.materials])
    years = result.years
    charts = []
    for flow, title in (("stock", "Material stock in panels (t)"),
                        ("outflow", "End-of-life flows per year (t)")):
        tonnes = result.material_t(getattr(result, flow + "_m2"))
        figure, axis = plt.subplots(figsize=(8, 3.6))
        axis.stackplot(years, tonnes[:, order].T, labels=[names[i] for i in order],
                       colors=plt.cm.tab20(np.linspace(0, 1, 20))[: len(names)])
        axis.axvline(result.reference_year, color="k", linestyle=":", linewidth=1)
        axis.set_xlabel("year")
        axis.set_ylabel("t")
        axis.legend(ncol=5, fontsize=7, loc="upper left")
        charts.append((title, figure_html(figure, title)))
    figure, axis = plt.subplots(figsize=(5, 3))
    totals = [result.total_recovered_t(s) for s in SCENARIOS]
    axis.bar([s.capitalize() for s in SCENARIOS], totals, color=["#1a9850", "#91cf60", "#fc8d59"])
    axis.set_ylabel("t recovered %d–%d" % (result.reference_year + 1, years[-1]))
    charts.append(("Recovered material per collection scenario", figure_html(figure, "recovered per scenario")))
    summary = table_html(("quantity", "tonnes"), [
        ("Inflow, all cohorts", "%.2f" % result.total_inflow_t),
        ("End-of-life outflow to %d" % years[-1], "%.2f" % result.total_outflow_t),
        ("Stock in %d" % years[-1], "%.2f" % result.stock_end_t)] + [
        ("Recovered %d–%d, %s collection" % (result.reference_year + 1, years[-1], s), "%.2f" % t)
        for s, t in zip(SCENARIOS, totals)])
    reference = list(years).index(result.reference_year)
    notes = ("<p class='note'>Weibull lifetime: shape %.4g, scale %.4g y (mean %.1f y). Reference year %d: stock "
             "%.0f m² of panel, %.2f MW at %.0f W/m².</p>" % (
                 lifetime.shape, lifetime.scale, lifetime.mean, result.reference_year,
                 result.stock_m2[reference], result.stock_m2[reference] * power_density / 1e6, power_density))
    write_page(path, "PV material stock and end-of-life flows",
               [("Summary", summary + notes)] + charts)
