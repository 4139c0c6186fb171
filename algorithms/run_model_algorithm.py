"""``fusionpv:runmodel``: run an ONNX model (segmentation or patch classification) over a raster, tile by tile."""
import os

import numpy as np
from qgis.core import (QgsProcessingException, QgsProcessingParameterBand, QgsProcessingParameterEnum,
                       QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer)

from ..core import model_runner as runner
from ..core.bands import sentinel2_band_name
from ..gisio.outputs import classes_on_load, ramp_on_load, raster_driver
from ..gisio.raster import (PRIOR_NAME_KEY, PV_PROBABILITY, BandWindows, RasterGrid, RasterWriter, SmallBlockCache,
                            raster_info)
from .base import FusionPvAlgorithm, Group


def _band_key(description):
    """A band description compared as Sentinel-2 band name (B2 = B02) when it is one."""
    return sentinel2_band_name(description) or description.strip().upper()


class RunModelAlgorithm(FusionPvAlgorithm):
    """Per-pixel classes (segmentation) or one class per patch from an ONNX model, with class probabilities."""
    ID = "runmodel"
    DISPLAY_NAME = "Run ONNX model"
    GROUP = Group.DEEP_MODELS
    HELP = (
        "<p>Runs a deep-learning model saved as ONNX (as Deepness and most training frameworks export it) over a "
        "raster: the urban maps of GlobalUrbanMapper, the Local Climate Zones of DF4LCZ, the panels of SolarScope, "
        "or the PV segmenter shipped with this plugin (<code>resources/models/pv_segmenter.onnx</code>, whose PV "
        "probability is a candidate prior for Extract PV plants).</p>"
        "<p><b>Input</b>: the BANDS in the model's channel order (default: the bands its metadata names, found by "
        "band description or, in a raster without descriptions, by the usual Earth Engine band layout; a model "
        "whose bands cannot be found is refused; a model that names none takes the first bands). Values are "
        "divided by INPUT_SCALE, then standardised with the model's <i>standardization_mean</i> and "
        "<i>standardization_std</i>. Nodata pixels are fed as 0 and stay nodata ({class_nodata}) in the output.</p>"
        "<p><b>Segmentation</b> (output 1 × C × rows × cols): tiles of TILE_SIZE pixels (0 = the model's "
        "<i>tiles_size</i>, else {tile}) are read with OVERLAP pixels around them (−1 = the model's "
        "<i>tiles_overlap</i> percent, else {overlap}); only their centres are written, so where the model sees at "
        "most OVERLAP pixels away the result does not depend on the tile size. <b>Patch classification</b> "
        "(output 1 × C): one class per PATCH_SIZE × PATCH_SIZE patch (default {patch}), e.g. LCZ on 32 × 32 "
        "patches, on a grid of patches; a patch less than {valid_share:g} % valid is nodata. A model with a fixed "
        "input size is run at that size.</p>"
        "<p>Outputs: classes numbered from 0, styled with the model's class names (the standard LCZ colours for 17 "
        "Local Climate Zones), and optionally the model's output per class (float32, one band per class, named by "
        "class). BACKEND Auto uses ONNX Runtime when installed, else OpenCV's DNN module.</p>")
    INPUT = "INPUT"
    MODEL = "MODEL"
    BANDS = "BANDS"
    INPUT_SCALE = "INPUT_SCALE"
    MODE = "MODE"
    PATCH_SIZE = "PATCH_SIZE"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BACKEND = "BACKEND"
    OUTPUT = "OUTPUT"
    OUTPUT_PROBABILITIES = "OUTPUT_PROBABILITIES"
    MODES = {runner.MODE_SEGMENTATION: "Segmentation (per pixel)", runner.MODE_PATCHES: "Patch classification"}
    DECIMALS = {INPUT_SCALE: 4}
    #: GDAL block cache while tiles are written: a row of tiles spans two rows of output blocks, which must stay
    #: cached until complete (else compressed blocks are re-read and re-written).
    CACHE_MEGABYTES = 256

    def help_values(self):
        return dict(class_nodata=runner.CLASS_NODATA, tile=runner.DEFAULT_TILE_SIZE, overlap=runner.DEFAULT_OVERLAP,
                    patch=runner.DEFAULT_PATCH_SIZE, valid_share=100 * runner.MIN_VALID_PATCH_SHARE)

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input raster")))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("ONNX model"), QgsProcessingParameterFile.Behavior.File, "onnx"))
        self.addParameter(QgsProcessingParameterBand(
            self.BANDS, self.tr("Bands, in the model's channel order"), None, self.INPUT,
            optional=True, allowMultiple=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.INPUT_SCALE, self.tr("Input scale (values are divided by it)"),
            QgsProcessingParameterNumber.Type.Double, 1.0, minValue=1e-12, maxValue=1e12))
        self.addParameter(QgsProcessingParameterEnum(
            self.MODE, self.tr("Mode"), [self.tr(self.MODES[m]) for m in sorted(self.MODES)],
            defaultValue=runner.MODE_SEGMENTATION))
        self.addParameter(QgsProcessingParameterNumber(
            self.PATCH_SIZE, self.tr("Patch size (pixels, patch classification)"),
            QgsProcessingParameterNumber.Type.Integer, runner.DEFAULT_PATCH_SIZE, minValue=1, maxValue=4096))
        self.add_advanced([
            QgsProcessingParameterNumber(
                self.TILE_SIZE, self.tr("Tile size (pixels; 0 = from the model)"),
                QgsProcessingParameterNumber.Type.Integer, 0, minValue=0, maxValue=8192),
            QgsProcessingParameterNumber(
                self.OVERLAP, self.tr("Overlap, px per side (−1 = from the model)"),
                QgsProcessingParameterNumber.Type.Integer, -1, minValue=-1, maxValue=4096),
            QgsProcessingParameterEnum(
                self.BACKEND, self.tr("Back-end"),
                [self.tr(runner.BACKEND_NAMES[b]) for b in sorted(runner.BACKEND_NAMES)],
                defaultValue=runner.BACKEND_AUTO)])
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROBABILITIES, self.tr("Class probabilities (one band per class)"), optional=True,
            createByDefault=False))

    def compute(self, parameters, context, feedback):
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        probabilities_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_PROBABILITIES, context)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr("INPUT: give a raster file that GDAL reads (GeoTIFF, VRT…)."))
        info = raster_info(layer.source())
        mode = self.parameterAsEnum(parameters, self.MODE, context)
        try:
            spec = runner.read_model_spec(self.parameterAsFile(parameters, self.MODEL, context))
            bands = self.band_numbers(parameters, context, spec, info)
            settings = runner.run_settings(
                spec, len(bands), mode, self.parameterAsInt(parameters, self.TILE_SIZE, context),
                self.parameterAsInt(parameters, self.OVERLAP, context),
                self.parameterAsInt(parameters, self.PATCH_SIZE, context),
                self.parameterAsDouble(parameters, self.INPUT_SCALE, context))
            backend = runner.open_backend(spec.path, self.parameterAsEnum(parameters, self.BACKEND, context),
                                          spec.output_name)
            class_count = runner.probe_class_count(spec, backend, settings, len(bands))
        except runner.ModelError as error:
            raise QgsProcessingException("%s: %s" % (error.parameter, error))
        for note in settings.notes:
            feedback.pushWarning(note)
        names = runner.class_names_for(spec, class_count)
        categories = list(zip(names, runner.class_colours(names)))
        self.log_run(feedback, backend, settings, bands, names)

        source = BandWindows(layer.source(), bands)
        grid = info.grid if mode == runner.MODE_SEGMENTATION else self.patch_grid(info.grid, settings.patch_size)
        with RasterWriter(output, grid, np.uint8, raster_driver(self.OUTPUT, output), runner.CLASS_NODATA,
                          "class", stage=self.stage, categories=categories) as classes_writer:
            probability_writer = RasterWriter(
                probabilities_path, grid, np.float32, raster_driver(self.OUTPUT_PROBABILITIES, probabilities_path),
                float("nan"), descriptions=names, stage=self.stage,
                metadata={PRIOR_NAME_KEY: self.tr("%s (probability)") % os.path.splitext(
                    os.path.basename(spec.path))[0]}) if probabilities_path else None
            try:
                self.run_tiles(source, backend, settings, spec, classes_writer, probability_writer, feedback)
            except BaseException as error:
                if probability_writer is not None:
                    probability_writer.discard()
                if isinstance(error, runner.ModelError):
                    raise QgsProcessingException("%s: %s" % (error.parameter, error)) from error
                raise
            if probability_writer is not None:
                probability_writer.commit()
        self.warn_mostly_nodata(classes_writer, self.OUTPUT, feedback)
        classes_on_load(context, output, [(value, name, None if runner.is_background_class(value, name) else colour)
                                          for value, (name, colour) in enumerate(categories)])
        results = {self.OUTPUT: output}
        if probabilities_path:
            self.style_probabilities(context, probabilities_path, names)
            results[self.OUTPUT_PROBABILITIES] = probabilities_path
        return results

    @staticmethod
    def style_probabilities(context, path, names):
        """Show the probability of PV (the class named PV, or the second of two classes) as a 0–1 ramp, clear
        below, with the candidate-prior threshold marked; other models' probabilities keep QGIS's default."""
        pv = [number for number, name in enumerate(names, start=1) if name.strip().upper() == "PV"]
        band = pv[0] if pv else 2 if len(names) == 2 else None
        if band is not None:
            ramp_on_load(context, path, band, [
                (0.0, "#00fdae61", "0"), (PV_PROBABILITY, "#fdae61", "%g: PV as a candidate prior" % PV_PROBABILITY),
                (1.0, "#d7191c", "1")])

    def band_numbers(self, parameters, context, spec, info):
        """The chosen bands (1-based), or the model's default bands; :class:`ModelError` when there are none."""
        chosen = self.parameterAsInts(parameters, self.BANDS, context) if parameters.get(self.BANDS) else []
        beyond = [number for number in chosen if not 1 <= number <= len(info.descriptions)]
        if beyond:
            raise runner.ModelError("band %d was chosen but the raster has %d band(s)." % (
                beyond[0], len(info.descriptions)), self.BANDS)
        if chosen:
            return chosen
        numbers = runner.default_band_numbers(info.descriptions, spec, _band_key)
        if numbers is None:
            raise runner.ModelError("the model takes %s channels and the raster has %d band(s); choose the bands."
                                    % (spec.channels, len(info.descriptions)), self.BANDS)
        return numbers

    @staticmethod
    def patch_grid(grid, patch_size):
        """The grid of one pixel per patch over ``grid`` (partial patches at the edge included)."""
        rows, cols = runner.patch_grid_shape((grid.height, grid.width), patch_size)
        x0, dx, rx, y0, ry, dy = grid.geotransform
        return RasterGrid(cols, rows, (x0, dx * patch_size, rx * patch_size, y0, ry * patch_size, dy * patch_size),
                          grid.crs_wkt)

    def log_run(self, feedback, backend, settings, bands, names):
        feedback.pushInfo(self.tr("Back-end: %s; bands %s; input scale %g") % (
            backend.name, ", ".join(map(str, bands)), settings.input_scale))
        if settings.mode == runner.MODE_SEGMENTATION:
            feedback.pushInfo(self.tr("Tiles of %d px with %d px overlap") % (settings.tile_size, settings.overlap))
        else:
            feedback.pushInfo(self.tr("Patches of %d × %d px") % (settings.patch_size, settings.patch_size))
        feedback.pushInfo(self.tr("Classes: %s") % ", ".join("%d %s" % item for item in enumerate(names)))

    def run_tiles(self, source, backend, settings, spec, classes_writer, probability_writer, feedback):
        """Run the core tile by tile (or patch row by patch row), writing each piece as it comes."""
        def write(window, classes, probabilities):
            if settings.mode == runner.MODE_PATCHES:
                window = (slice(window, window + 1), slice(0, classes.shape[1]))
            classes_writer.write(classes, *window)
            if probability_writer is not None:
                probability_writer.write_bands(probabilities, *window)

        progress = self.core_progress(feedback, 0, 100)
        with SmallBlockCache(self.CACHE_MEGABYTES):
            if settings.mode == runner.MODE_SEGMENTATION:
                summary = runner.run_segmentation(source.read, source.shape, backend, settings, write,
                                                  spec.fixed_size, progress)
            else:
                summary = runner.run_patches(source.read, source.shape, backend, settings, write,
                                             spec.batch is not None, progress)
        if summary.non_finite:
            feedback.pushWarning(self.tr(
                "MODEL: the model gave NaN or infinite values for %d valid input %s; they are nodata in OUTPUT, "
                "not a class. Check INPUT_SCALE and the bands the model expects.") % (
                summary.non_finite, self.tr("pixel(s)") if settings.mode == runner.MODE_SEGMENTATION
                else self.tr("patch(es)")))
