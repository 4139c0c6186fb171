"""``fusionpv:extractpvplants``: PV plant polygons from a Sentinel-2 stack and PV priors (ANDPI fusion)."""
from qgis.core import (QgsProcessingException, QgsProcessingParameterEnum,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ..core import improved, paper, plants
from ..core.extract import DEFAULT_METHOD, METHOD_IMPROVED, METHOD_PAPER, NoValidPixels, extract_pv_plants
from ..gisio.context import PlantContext
from ..gisio.outputs import raster_driver, style_on_load
from ..gisio.plant_layer import plant_features, plant_fields
from ..gisio.raster import GROUP_READ_CACHE_MB, PV_PROBABILITY, SmallBlockCache, write_windows_mask
from .base import Group, PlantMapping, Sentinel2Algorithm


class ExtractPvPlantsAlgorithm(PlantMapping, Sentinel2Algorithm):
    """Refine trusted and confirm candidate PV priors with NDPI; one polygon feature per plant."""
    ID = "extractpvplants"
    DISPLAY_NAME = "Extract PV plants (ANDPI fusion)"
    GROUP = Group.PV_MAPPING
    HELP = (
        "<p>Maps PV plants by fusing existing PV datasets with the normalized difference PV index (NDPI) of a "
        "Sentinel-2 image. <b>Trusted priors</b> (OSM, ChinaPV, GlobalPV…) are refined; <b>candidate priors</b> "
        "(TZ-SAM…) are confirmed or rejected on the pixels not already in a trusted prior. Give at least one of "
        "the two. Priors are polygon layers (rasterised with the pixel-centre rule) or raster masks (non-zero = "
        "PV, resampled nearest), in any CRS. A floating-point raster is a PV probability: PV from {pv_probability:g} "
        "up, read from its band described PV when it has one (the probability output of Run ONNX model).</p>"
        "<p><b>Improved</b> (default, Fusion PV Mapping's method): plant by plant, the prior's core is compared "
        "with a ring of surroundings. A regularised Fisher discriminant of the six reflectances estimates each "
        "pixel's PV fraction; outer layers of the outline whose median fraction is below {peel_fraction:g} are "
        "peeled (at most {max_peel}), so an over-extended prior is trimmed and a correct one kept whole. Through "
        "Sentinel-2's point spread (a Gaussian of {psf_sigma:g} px) the pixels just outside a plant look partly PV, "
        "so the first layer is also peeled when the blurred outline without it explains the fractions better "
        "(evidence ≥ {peel_evidence:g}). An outline that is not peeled grows side by side into pixels that look like "
        "PV (median fraction ≥ {grow_fraction:g}, at most {max_grow} layers), so a prior that misses part of its "
        "plant recovers it; one that neither peels nor grows moves by one pixel when the moved outline fits better "
        "(evidence ≥ {shift_evidence:g}: a misregistered prior). A prior drawn on a coarser grid (20 m or 30 m "
        "blocks) keeps only the outer pixels whose fraction reaches {coarse_keep:g}. Parts of a prior at most "
        "{cluster_gap} pixels apart are decided together. A candidate must first look like PV against its "
        "surroundings: not water (MNDWI &lt; 0), not bare soil (B4 ≥ {soil_ratio:g} × B2), and bluer relative to red "
        "than its surroundings (its B2/B4 ≥ {blue_red_gain:g} × the ring's: the blue peak of PV glass) unless NDPI "
        "(AUC ≥ {decisive_auc:g}) and NIR (lower by ≥ {decisive_nir:g} %) are decisive. Then either clearly higher "
        "NDPI (AUC ≥ {strong_auc:g}), or {min_signals} of four PV signals: higher NDPI (AUC ≥ {min_auc:g}), darker "
        "in NIR (by ≥ {nir_drop:g} %), a blue peak (B2 brighter than around it by ≥ {blue_rise:g}, rising at least as "
        "much as B4), much bluer relative to red (B2/B4 ≥ {dark_blue_red_gain:g} × the ring's: a plant in bright "
        "surroundings such as bare soil, gravel or roofs may show no other signal but one).</p>"
        "<p><b>Paper</b> (Zeng et al. 2025, IJAEOG 145:105005), reproduced pixel for pixel: one {bins}-bin NDPI "
        "histogram on [{low:g}, {high:g}] per prior role; trusted priors are cut at the valley between the two "
        "right-most peaks (the mean NDPI with fewer than two peaks) unless fewer than {keep_ratio:g} % would "
        "remain; candidates count only peaks above NDPI {candidate_peak:g} and are cut at the valley between the "
        "two peaks (between the third- and second-right-most with more), with fewer than two nothing is "
        "accepted.</p>"
        "<p>Components of at most MIN_AREA_PIXELS pixels (8-connected) are removed. Output: one feature per plant "
        "with <i>area_m2</i> (ellipsoidal area), <i>pixels</i>, <i>source</i> (trusted / candidate / both), "
        "<i>method</i>, <i>threshold</i> (the plant's NDPI threshold: the histogram valley of the paper method, or "
        "for the improved method the NDPI of a pixel {peel_percent:g} % PV between the plant's core and "
        "surroundings), <i>confidence</i> (improved method: how well NDPI separates the plant from its "
        "surroundings, 2·AUC − 1, raised when several products agree), <i>refined</i> (0 where the trusted prior "
        "was kept unchanged), <i>sources</i> (the names of the prior layers that overlap the plant, as named in "
        "the project or by file name, comma-separated) and <i>n_sources</i> (how many). Each product beyond the "
        "first multiplies the doubt left in the confidence by {agreement_doubt:g}: 1 − (1 − confidence) × "
        "{agreement_doubt:g}^(n_sources − 1).</p>"
        "<p><b>Context</b> (optional): a class raster such as a GlobalUrbanMapper urban map, an LCZ map from Run "
        "ONNX model, ESA WorldCover or WSF, in any CRS (band 1, nearest neighbour). Each plant then gets "
        "<i>context_class</i> (the class under most of its pixels), <i>context_name</i> (its name, when the raster "
        "names its classes) and <i>context_share</i> (the share of the plant's pixels in that class): rooftop and "
        "urban PV are told from ground-mounted plants, and false candidates on bright roofs explained.</p>")
    METHOD = "METHOD"
    CONTEXT = "CONTEXT"
    OUTPUT_MASK = "OUTPUT_MASK"
    #: Method names by the core's method numbers.
    METHODS = {METHOD_PAPER: "Paper (Zeng et al. 2025)", METHOD_IMPROVED: "Improved"}

    def help_values(self):
        return dict(
            peel_fraction=improved.PEEL_FRACTION, max_peel=improved.MAX_PEEL, grow_fraction=improved.GROW_FRACTION,
            max_grow=improved.MAX_GROW, psf_sigma=improved.PSF_SIGMA, peel_evidence=improved.PEEL_EVIDENCE,
            shift_evidence=improved.SHIFT_EVIDENCE, coarse_keep=improved.COARSE_KEEP_FRACTION,
            blue_red_gain=improved.MIN_BLUE_RED_GAIN, decisive_auc=improved.DECISIVE_NDPI_AUC,
            decisive_nir=100 * improved.DECISIVE_NIR_DROP, dark_blue_red_gain=improved.DARK_BLUE_RED_GAIN, cluster_gap=2 * improved.CLUSTER_REACH, strong_auc=improved.STRONG_NDPI_AUC,
            min_signals=improved.MIN_PV_SIGNALS, min_auc=improved.MIN_NDPI_AUC, nir_drop=100 * improved.MIN_NIR_DROP,
            blue_rise=improved.MIN_BLUE_RISE, soil_ratio=improved.MAX_RED_BLUE_RATIO, bins=paper.HISTOGRAM_BINS,
            low=paper.HISTOGRAM_RANGE[0], high=paper.HISTOGRAM_RANGE[1], keep_ratio=100 * paper.TRUSTED_KEEP_RATIO,
            candidate_peak=paper.CANDIDATE_MIN_PEAK_NDPI, peel_percent=100 * improved.PEEL_FRACTION,
            pv_probability=PV_PROBABILITY, agreement_doubt=plants.AGREEMENT_DOUBT)

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_sentinel2_parameters()
        self.add_prior_parameters()
        self.addParameter(QgsProcessingParameterEnum(
            self.METHOD, self.tr("Method"), [self.tr(self.METHODS[m]) for m in sorted(self.METHODS)],
            defaultValue=DEFAULT_METHOD))
        self.add_min_area_parameter()
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.CONTEXT, self.tr("Context classes (urban, LCZ, land cover…)"), optional=True))
        self.add_plants_output(self.tr("PV plants"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_MASK, self.tr("PV mask (1 = PV)"), optional=True, createByDefault=False))

    def compute(self, parameters, context, feedback):
        mask_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_MASK, context)
        layers = self.prior_layers(parameters, context)

        feedback.setProgressText(self.tr("Reading the Sentinel-2 bands"))
        sentinel2 = self.read_sentinel2(parameters, context, feedback)
        plant_context = self.plant_context(parameters, context, sentinel2.grid)
        feedback.setProgress(10)
        trusted, candidate = self.prior_sources(layers, sentinel2, context, feedback)
        feedback.setProgress(20)
        try:
            with SmallBlockCache(GROUP_READ_CACHE_MB):
                plant_map = extract_pv_plants(
                    sentinel2.bands, trusted, candidate, method=self.parameterAsEnum(parameters, self.METHOD, context),
                    min_area=self.parameterAsInt(parameters, self.MIN_AREA_PIXELS, context),
                    progress=self.core_progress(feedback, 20, 80))
        except NoValidPixels as error:
            raise QgsProcessingException(self.tr("INPUT: %s Check the band choice, SCALE and OFFSET.") % error)
        for parameter, pixels in zip((self.TRUSTED_PRIORS, self.CANDIDATE_PRIORS), plant_map.prior_pixels):
            if pixels:
                feedback.pushInfo(self.tr("%s: the priors cover %d image pixel(s).") % (parameter, pixels))
        feedback.pushInfo(self.tr("%d prior group(s) decided, each in its own window.") % plant_map.groups)
        for line in plant_map.decisions:
            feedback.pushInfo(line)

        feedback.setProgressText(self.tr("Building plant polygons"))
        features = plant_features(plant_map, sentinel2.grid, sentinel2.crs, context, feedback.isCanceled,
                                  plant_context)
        self.check_cancelled(feedback)
        feedback.setProgress(95)
        results = {}
        if mask_path:
            write_windows_mask(mask_path, plant_map.windows, plant_map.masks, sentinel2.grid,
                               raster_driver(self.OUTPUT_MASK, mask_path), description="PV mask (1 = PV)",
                               stage=self.stage)
            style_on_load(context, mask_path, "pv_mask.qml")
            results[self.OUTPUT_MASK] = mask_path
        results[self.OUTPUT] = self.write_plants(parameters, context, plant_fields(plant_context), features,
                                                 sentinel2.crs)
        feedback.pushInfo(self.tr("%d PV plant(s) mapped.") % len(features))
        feedback.setProgress(100)
        return results

    def plant_context(self, parameters, context, grid):
        """The CONTEXT class raster on the image grid, or None when none is given."""
        given = self.optional_raster_file(parameters, self.CONTEXT, context)
        return PlantContext(*given, grid) if given else None
