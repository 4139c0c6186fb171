"""``fusionpv:stackbands``: one GeoTIFF of Sentinel-2 bands from a SAFE product or a folder of band files."""
from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterEnum, QgsProcessingParameterExtent, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination)

from . import gdal_io
from .outputs import check_writable, raster_driver
from .s2_stack import RESAMPLING_HELP, check_one_crs, find_bands, output_grid, write_stack
from .texts import tr


class StackBandsAlgorithm(QgsProcessingAlgorithm):
    """Bands in wavelength order, DN = reflectance × 10000 with the baseline-04.00 offset removed."""

    INPUT = "INPUT"
    RESOLUTION = "RESOLUTION"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"
    RESOLUTIONS = (10, 20)

    def name(self):
        return "stackbands"

    def displayName(self):  # noqa: N802 (QGIS API name)
        return tr("Build Sentinel-2 stack")

    def group(self):
        return tr("Sentinel-2 input")

    def groupId(self):  # noqa: N802 (QGIS API name)
        return "sentinel2input"

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return tr(
            "<p>Builds one GeoTIFF of Sentinel-2 bands from what users download: a SAFE product (its folder, its "
            ".zip, or its MTD_MSIL1C.xml / MTD_MSIL2A.xml) or a folder of single-band files whose names carry the "
            "band (…B02….tif, …B8A….jp2; choosing one of them selects its folder). Of a band found at several "
            "resolutions, the finest file is used; the L2A scene classification (SCL) comes last.</p>"
            "<p>Output: bands in wavelength order with descriptions B01…B12 (B8A after B08), int16 DN = "
            "reflectance × 10000, nodata −32768. From processing baseline 04.00 on, products add an offset "
            "(reflectance = (DN − 1000) / 10000); it is read from the product metadata and removed, so every "
            "later algorithm can use OFFSET = 0. Without metadata (a folder of bands) no offset is assumed, and "
            "the log says so. The level (L1C/L2A), date, baseline and removed offsets are written in the file's "
            "metadata.</p><p>%s</p><p>EXTENT clips the output to an area of interest.</p>") % tr(RESAMPLING_HELP)

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return StackBandsAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterFile(
            self.INPUT, tr("Sentinel-2 product (.zip, MTD xml) or band folder"),
            QgsProcessingParameterFile.File, fileFilter=tr("Sentinel-2 products (*.zip *.xml);;All files (*)")))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESOLUTION, tr("Resolution"), ["%d m" % r for r in self.RESOLUTIONS], defaultValue=0))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Clip to extent"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Sentinel-2 stack")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        check_writable(self.OUTPUT, output)
        driver = raster_driver(self.OUTPUT, output)
        product = find_bands(self.parameterAsFile(parameters, self.INPUT, context), feedback)
        check_one_crs(product)
        resolution = self.RESOLUTIONS[self.parameterAsEnum(parameters, self.RESOLUTION, context)]
        bounds = None
        if parameters.get(self.EXTENT):
            band_grid = gdal_io.grid_of(next(iter(product.files.values())))
            crs = QgsCoordinateReferenceSystem.fromWkt(band_grid.crs_wkt)
            extent = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
            xmin, ymin, xmax, ymax = band_grid.bounds
            bounds = (max(extent.xMinimum(), xmin), max(extent.yMinimum(), ymin),
                      min(extent.xMaximum(), xmax), min(extent.yMaximum(), ymax))
            if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
                raise QgsProcessingException(tr("EXTENT: the extent does not overlap the product."))
        grid = output_grid(product, resolution, bounds)
        feedback.pushInfo(tr("%s %s, baseline %s: bands %s on a %d × %d grid of %d m") % (
            product.level, product.date or "(date unknown)", product.baseline or "unknown",
            ", ".join(product.files), grid.width, grid.height, resolution))
        order, metadata = write_stack(product, grid, resolution, output, driver, feedback)
        feedback.pushInfo(tr("Offsets removed: %s") % metadata["OFFSET_REMOVED"])
        return {self.OUTPUT: output}
