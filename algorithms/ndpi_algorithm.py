"""``fusionpv:andpi``: the normalized difference PV index (NDPI) of a Sentinel-2 stack."""
import numpy as np
from qgis.core import QgsProcessingException, QgsProcessingParameterRasterDestination

from ..core.ndpi import NDPI_EPSILON
from ..core.windows import block_grid, read_shape
from ..gisio.outputs import raster_driver, style_on_load
from ..gisio.raster import RasterWriter
from .base import Group, Sentinel2Algorithm

#: Output nodata of the index raster.
NDPI_NODATA = -9999.0


class NdpiAlgorithm(Sentinel2Algorithm):
    """NDPI = (B11 − max(B2, B3, B4, B8, B12)) / (B11 + ε), float32 on the input grid."""
    ID = "andpi"
    DISPLAY_NAME = "PV index (NDPI)"
    GROUP = Group.PV_MAPPING
    HELP = ("<p>Computes the normalized difference PV index of Zeng et al. 2025 (IJAEOG 145:105005), on which "
            "their adaptive fusion (ANDPI) is built:</p>"
            "<p><code>NDPI = (B11 − max(B2, B3, B4, B8, B12)) / (B11 + {epsilon:g})</code></p>"
            "<p>on reflectance. PV panels are brighter in SWIR1 (B11) than in the visible, NIR and SWIR2 bands, so "
            "NDPI is high on PV. Output: float32 on the input grid; nodata ({nodata:g}) where any band is nodata or "
            "B11 reflectance ≤ 0.</p>")
    OUTPUT = "OUTPUT"

    def help_values(self):
        return {"epsilon": NDPI_EPSILON, "nodata": NDPI_NODATA}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_sentinel2_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("NDPI")))

    def compute(self, parameters, context, feedback):
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        driver = raster_driver(self.OUTPUT, output)
        sentinel2 = self.read_sentinel2(parameters, context, feedback)
        bands = sentinel2.bands
        windows = list(block_grid(bands.shape, read_shape(bands.block_shape, bands.shape)))
        valid_pixels = 0
        with RasterWriter(output, sentinel2.grid, np.float32, driver, NDPI_NODATA, "NDPI", stage=self.stage) as writer:
            for number, window in enumerate(windows):
                self.check_cancelled(feedback)
                index, valid = bands.ndpi(bands.read(*window))
                valid_pixels += int(np.count_nonzero(valid))
                writer.write(np.where(valid, index, NDPI_NODATA).astype(np.float32), *window)
                feedback.setProgress(100.0 * (number + 1) / len(windows))
            if not valid_pixels:
                raise QgsProcessingException(self.tr(
                    "INPUT: the image has no valid pixel (all nodata, or B11 ≤ 0); check the band choice, SCALE and "
                    "OFFSET."))
        self.warn_mostly_nodata(writer, self.OUTPUT, feedback)
        style_on_load(context, output, "ndpi.qml")
        return {self.OUTPUT: output}
