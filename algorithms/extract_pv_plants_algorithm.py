"""``fusionpv:extractpvplants``: PV plant polygons from a Sentinel-2 stack and PV priors (ANDPI fusion)."""
from qgis.PyQt.QtCore import QVariant
from qgis.core import (QgsDistanceArea, QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsGeometry,
                       QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination, QgsWkbTypes)

from ..core.extract import METHOD_IMPROVED, NoValidPixels, extract_pv_plants
from ..core.paper import DEFAULT_MIN_AREA_PIXELS
from ..core.progress import Cancelled, Progress
from . import gdal_io
from .outputs import check_writable, number_or_null, raster_driver, style_on_load
from .prior_layers import prior_mask
from .sentinel2_input import SENTINEL2_HELP, add_sentinel2_parameters, read_sentinel2
from .texts import tr


def plant_fields():
    """Attribute fields of the plant polygons."""
    fields = QgsFields()
    fields.append(QgsField("plant_id", QVariant.Int))
    fields.append(QgsField("area_m2", QVariant.Double))
    fields.append(QgsField("pixels", QVariant.Int))
    fields.append(QgsField("source", QVariant.String, len=9))
    fields.append(QgsField("method", QVariant.String, len=8))
    fields.append(QgsField("threshold", QVariant.Double))
    fields.append(QgsField("confidence", QVariant.Double))
    fields.append(QgsField("refined", QVariant.Int))
    return fields


def ellipsoidal_area(crs, context):
    """A QgsDistanceArea measuring on the ellipsoid of ``crs`` (WGS 84 when the CRS names none)."""
    measure = QgsDistanceArea()
    measure.setSourceCrs(crs, context.transformContext())
    ellipsoid = crs.ellipsoidAcronym()
    measure.setEllipsoid(ellipsoid if ellipsoid and ellipsoid != "NONE" else "EPSG:7030")
    return measure


class ExtractPvPlantsAlgorithm(QgsProcessingAlgorithm):
    """Refine trusted and confirm candidate PV priors with NDPI; one polygon feature per plant."""

    TRUSTED_PRIORS = "TRUSTED_PRIORS"
    CANDIDATE_PRIORS = "CANDIDATE_PRIORS"
    METHOD = "METHOD"
    MIN_AREA_PIXELS = "MIN_AREA_PIXELS"
    OUTPUT = "OUTPUT"
    OUTPUT_MASK = "OUTPUT_MASK"

    METHODS = ("Paper (Zeng et al. 2025)", "Improved")

    def name(self):
        return "extractpvplants"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return tr("Extract PV plants (ANDPI fusion)")

    def group(self):
        return tr("PV mapping")

    def groupId(self):  # noqa: N802 (QGIS API name)
        return "pvmapping"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return tr(
            "<p>Maps PV plants by fusing existing PV datasets with the normalized difference PV index (NDPI) of a "
            "Sentinel-2 image. <b>Trusted priors</b> (OSM, ChinaPV, GlobalPV…) are refined; <b>candidate "
            "priors</b> (TZ-SAM…) are confirmed or rejected on the pixels not already in a trusted prior. Priors "
            "are polygon layers (rasterised with the pixel-centre rule) or raster masks (non-zero = PV, resampled "
            "nearest), in any CRS.</p>"
            "<p><b>Improved</b> (default, Fusion PV Mapping's method): plant by plant, the prior's core is compared "
            "with a ring of surroundings. A regularised Fisher discriminant of the six reflectances estimates each "
            "pixel's PV fraction; outer layers of the outline whose median fraction is below 0.3 are peeled (at "
            "most 2), so an over-extended prior is trimmed and a correct one kept whole; an outline that is not "
            "peeled grows side by side into pixels that look like PV (median fraction ≥ 0.7, at most 4 layers), "
            "so a prior that misses part of its plant recovers it. Parts of a prior at most 2 pixels apart are "
            "decided together. A candidate must first look like PV against its surroundings: not water (MNDWI "
            "&lt; 0), and either clearly higher NDPI (AUC ≥ 0.8) or two of three PV signals: higher NDPI (AUC ≥ "
            "0.6), darker in NIR (by ≥ 5 %), a blue peak (B2 brighter than around it, rising at least as much as "
            "B4).</p>"
            "<p><b>Paper</b> (Zeng et al. 2025, IJAEOG 145:105005), reproduced pixel for pixel: one 200-bin NDPI "
            "histogram on [−0.5, 0.5] per prior role; trusted priors are cut at the valley between the two "
            "right-most peaks (the mean NDPI with fewer than two peaks) unless fewer than 80 % would remain; "
            "candidates count only peaks above NDPI 0.02 and are cut at the valley between the two peaks (between "
            "the third- and second-right-most with more), with fewer than two nothing is accepted.</p>"
            "<p>Components of at most MIN_AREA_PIXELS pixels (8-connected) are removed. Output: one feature per "
            "plant with <i>area_m2</i> (ellipsoidal area), <i>pixels</i>, <i>source</i> (trusted / candidate / "
            "both), <i>method</i>, <i>threshold</i> (the plant's NDPI threshold: the histogram valley of the paper "
            "method, or for the improved method the NDPI of a pixel 30 % PV between the plant's core and "
            "surroundings), <i>confidence</i> (improved method: how well NDPI separates the plant from its "
            "surroundings, 2·AUC − 1) and <i>refined</i> (0 where the trusted prior was kept unchanged).</p>"
            ) + tr(SENTINEL2_HELP)

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return ExtractPvPlantsAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        add_sentinel2_parameters(self)
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.TRUSTED_PRIORS, tr("Trusted PV priors (refined: OSM, ChinaPV, GlobalPV…)"),
            QgsProcessing.TypeMapLayer, optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.CANDIDATE_PRIORS, tr("Candidate PV priors (confirmed or rejected: TZ-SAM…)"),
            QgsProcessing.TypeMapLayer, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.METHOD, tr("Method"), [tr(m) for m in self.METHODS], defaultValue=METHOD_IMPROVED))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_AREA_PIXELS, tr("Remove plants of at most this many pixels"),
            QgsProcessingParameterNumber.Integer, DEFAULT_MIN_AREA_PIXELS, minValue=0))
        sink = QgsProcessingParameterFeatureSink(self.OUTPUT, tr("PV plants"), QgsProcessing.TypeVectorPolygon)
        sink.setSupportsNonFileBasedOutput(False)
        self.addParameter(sink)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_MASK, tr("PV mask (1 = PV)"), optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        mask_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_MASK, context)
        check_writable(self.OUTPUT, self.parameterAsOutputLayer(parameters, self.OUTPUT, context))
        if mask_path:
            check_writable(self.OUTPUT_MASK, mask_path)
            mask_driver = raster_driver(self.OUTPUT_MASK, mask_path)
        method = self.parameterAsEnum(parameters, self.METHOD, context)

        trusted_layers = self.parameterAsLayerList(parameters, self.TRUSTED_PRIORS, context)
        candidate_layers = self.parameterAsLayerList(parameters, self.CANDIDATE_PRIORS, context)
        if not trusted_layers and not candidate_layers:
            raise QgsProcessingException(tr("TRUSTED_PRIORS, CANDIDATE_PRIORS: give at least one PV prior layer "
                                            "(polygons or a raster mask)."))

        feedback.setProgressText(tr("Reading the Sentinel-2 bands"))
        sentinel2 = read_sentinel2(self, parameters, context, feedback)
        feedback.setProgress(10)
        feedback.setProgressText(tr("Placing the PV priors on the image grid"))
        trusted = prior_mask(trusted_layers, self.TRUSTED_PRIORS, sentinel2, context, feedback)
        candidate = prior_mask(candidate_layers, self.CANDIDATE_PRIORS, sentinel2, context, feedback)
        feedback.setProgress(20)

        progress = Progress(lambda percent, message: self._report(feedback, percent, message),
                            feedback.isCanceled).span(20, 80)
        try:
            with gdal_io.SmallBlockCache():
                plant_map = extract_pv_plants(
                    sentinel2.bands, trusted, candidate, sentinel2.scale, sentinel2.offset, None, method,
                    self.parameterAsInt(parameters, self.MIN_AREA_PIXELS, context), progress)
        except NoValidPixels as error:
            raise QgsProcessingException(tr("INPUT: %s Check the band choice, SCALE and OFFSET.") % error)
        except Cancelled:
            raise QgsProcessingException(tr("Cancelled: no output was written."))
        self._log_thresholds(plant_map.fusion, feedback)

        feedback.setProgressText(tr("Building plant polygons"))
        features = self._plant_features(plant_map, sentinel2, context, feedback)
        if feedback.isCanceled():
            raise QgsProcessingException(tr("Cancelled: no output was written."))
        feedback.setProgress(95)
        results = {}
        if mask_path:
            gdal_io.write_raster(mask_path, plant_map.fusion.mask.astype("uint8"), sentinel2.grid, mask_driver,
                                 description="PV mask (1 = PV)")
            style_on_load(context, mask_path, "pv_mask.qml")
            results[self.OUTPUT_MASK] = mask_path
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, plant_fields(),
                                             QgsWkbTypes.MultiPolygon, sentinel2.crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        sink.addFeatures(features, QgsFeatureSink.FastInsert)
        style_on_load(context, dest_id, "pv_plants.qml")
        results[self.OUTPUT] = dest_id
        feedback.pushInfo(tr("%d PV plant(s) mapped.") % len(features))
        feedback.setProgress(100)
        return results

    @staticmethod
    def _report(feedback, percent, message):
        feedback.setProgress(percent)
        if message:
            feedback.setProgressText(message)

    @staticmethod
    def _log_thresholds(fusion, feedback):
        """Tell the user how each prior role was decided."""
        if fusion.trusted is not None:
            for role, result in (("Trusted", fusion.trusted), ("Candidate", fusion.candidate)):
                if result.prior_pixels:
                    threshold = "none" if result.choice.threshold is None else "%.4f" % result.choice.threshold
                    feedback.pushInfo(tr("%s priors: %d px, NDPI threshold %s (%s)%s") % (
                        role, result.prior_pixels, threshold, result.choice.branch,
                        tr("; fewer than 80 % kept, so the prior is kept whole") if result.kept_whole_prior else ""))
        reasons = {}
        for component in getattr(fusion, "components", []):
            reason = "%s (%s)" % (component.reason, component.evidence) if component.evidence else component.reason
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, count in sorted(reasons.items()):
            feedback.pushInfo(tr("%d prior component(s): %s") % (count, reason))

    def _plant_features(self, plant_map, sentinel2, context, feedback):
        """One multipolygon feature per plant, in the image CRS, with its attributes."""
        fields = plant_fields()
        outlines = gdal_io.polygonize_plants(plant_map.labels, plant_map.windows, sentinel2.grid)
        area = ellipsoidal_area(sentinel2.crs, context)
        features = []
        for plant, outline in zip(plant_map.plants, outlines):
            if feedback.isCanceled():
                break
            geometry = QgsGeometry()
            geometry.fromWkb(outline)
            feature = QgsFeature(fields)
            feature.setGeometry(geometry)
            feature.setAttributes([plant.plant_id, area.measureArea(geometry), plant.pixels, plant.source,
                                   plant_map.method, number_or_null(plant.threshold),
                                   number_or_null(plant.confidence), int(plant.refined)])
            features.append(feature)
        return features
