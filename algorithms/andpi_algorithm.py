"""``fusionpv:andpi``: the normalized difference PV index of a Sentinel-2 stack."""
import numpy as np
from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingParameterRasterDestination

from ..core.andpi import ndpi_from_dn
from ..core.bandsource import block_grid, read_shape
from . import gdal_io
from .outputs import check_writable, raster_driver, style_on_load
from .sentinel2_input import SENTINEL2_HELP, add_sentinel2_parameters, read_sentinel2
from .texts import tr

#: Output nodata of the index raster.
NDPI_NODATA = -9999.0


class AndpiAlgorithm(QgsProcessingAlgorithm):
    """NDPI = (B11 − max(B2, B3, B4, B8, B12)) / (B11 + 1e-10), float32 on the input grid."""

    OUTPUT = "OUTPUT"

    def name(self):
        return "andpi"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return tr("ANDPI (PV index)")

    def group(self):
        return tr("PV mapping")

    def groupId(self):  # noqa: N802 (QGIS API name)
        return "pvmapping"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return tr(
            "<p>Computes the normalized difference PV index of Zeng et al. 2025 (IJAEOG 145:105005):</p>"
            "<p><code>NDPI = (B11 − max(B2, B3, B4, B8, B12)) / (B11 + 1e-10)</code></p>"
            "<p>on reflectance. PV panels are brighter in SWIR1 (B11) than in the visible, NIR and SWIR2 bands, so "
            "NDPI is high on PV. Output: float32 on the input grid; nodata (−9999) where any band is nodata or B11 "
            "reflectance ≤ 0.</p>") + tr(SENTINEL2_HELP)

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return AndpiAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        add_sentinel2_parameters(self)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("NDPI")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        check_writable(self.OUTPUT, output)
        driver = raster_driver(self.OUTPUT, output)
        sentinel2 = read_sentinel2(self, parameters, context, feedback)
        bands = sentinel2.bands
        windows = list(block_grid(bands.shape, read_shape(bands.block_shape, bands.shape)))
        writer = gdal_io.RasterWriter(output, sentinel2.grid, np.float32, driver, NDPI_NODATA, "NDPI")
        valid_pixels = 0
        try:
            for number, window in enumerate(windows):
                if feedback.isCanceled():
                    raise QgsProcessingException(tr("Cancelled: no output was written."))
                index, valid = ndpi_from_dn(bands.read(*window), sentinel2.scale, sentinel2.offset,
                                            bands.nodata_by_role)
                valid_pixels += int(np.count_nonzero(valid))
                writer.write(np.where(valid, index, NDPI_NODATA).astype(np.float32), *window)
                feedback.setProgress(100.0 * (number + 1) / len(windows))
            if not valid_pixels:
                raise QgsProcessingException(tr("INPUT: the image has no valid pixel (all nodata, or B11 ≤ 0); "
                                                "check the band choice, SCALE and OFFSET."))
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        style_on_load(context, output, "ndpi.qml")
        return {self.OUTPUT: output}
