"""``fusionpv:stackbands``: one GeoTIFF of Sentinel-2 bands from a SAFE product or a folder of band files."""
from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessingException, QgsProcessingParameterEnum,
                       QgsProcessingParameterExtent, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination)

from ..core.ndpi import DEFAULT_SCALE
from ..core.s2_products import BASELINE_04_OFFSET, STACK_NODATA
from ..gisio.outputs import natural_colour_on_load, raster_driver
from ..gisio.raster import grid_of
from ..gisio.s2_files import check_one_crs, find_bands, output_grid, write_stack
from .base import Group, FusionPvAlgorithm


class StackBandsAlgorithm(FusionPvAlgorithm):
    """Bands in wavelength order, DN = reflectance × 10000 with the baseline-04.00 offset removed."""
    ID = "stackbands"
    DISPLAY_NAME = "Build Sentinel-2 stack"
    GROUP = Group.SENTINEL2_INPUT
    HELP = (
        "<p>Builds one GeoTIFF of Sentinel-2 bands from what users download: a SAFE product (its folder, its .zip, "
        "or its MTD_MSIL1C.xml / MTD_MSIL2A.xml) or a folder of single-band files whose names carry the band "
        "(…B02….tif, …B8A….jp2; choosing one of them selects its folder). Of a band found at several resolutions, "
        "the finest file is used; the L2A scene classification (SCL) comes last.</p>"
        "<p>Output: bands in wavelength order with descriptions B01…B12 (B8A after B08), int16 DN = reflectance × "
        "{scale:g}, nodata {nodata}. From processing baseline 04.00 on, products add an offset (reflectance = "
        "(DN {offset:+g}) / {scale:g}); it is read from the product metadata and removed, so every later "
        "algorithm can use OFFSET = 0. Without metadata (a folder of bands) no offset is assumed, and the log says "
        "so. The level (L1C/L2A), date, baseline and removed offsets are written in the file's metadata.</p>"
        "<p>Bands are resampled onto the grid of a band of the chosen resolution: coarser bands (20 and 60 m) by "
        "nearest neighbour, which repeats each measured value over the finer pixels it covers — no spectra are "
        "invented, and the PV index, which compares bands pixel by pixel, sees only measured values; finer bands "
        "(10 m onto 20 m) by averaging, which integrates the signal the coarser pixel covers.</p>"
        "<p>EXTENT clips the output to an area of interest.</p>")
    INPUT = "INPUT"
    RESOLUTION = "RESOLUTION"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"
    RESOLUTIONS = (10, 20)

    def help_values(self):
        return {"scale": DEFAULT_SCALE, "nodata": STACK_NODATA, "offset": BASELINE_04_OFFSET}

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.addParameter(QgsProcessingParameterFile(
            self.INPUT, self.tr("Sentinel-2 product or band folder"),
            QgsProcessingParameterFile.Behavior.File,
            fileFilter=self.tr("Sentinel-2 products (*.zip *.xml);;All files (*)")))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESOLUTION, self.tr("Resolution"), ["%d m" % r for r in self.RESOLUTIONS], defaultValue=0))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Clip to extent"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Sentinel-2 stack")))

    def compute(self, parameters, context, feedback):
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        driver = raster_driver(self.OUTPUT, output)
        product = find_bands(self.parameterAsFile(parameters, self.INPUT, context), feedback)
        check_one_crs(product)
        resolution = self.RESOLUTIONS[self.parameterAsEnum(parameters, self.RESOLUTION, context)]
        bounds = None
        if parameters.get(self.EXTENT):
            band_grid = grid_of(next(iter(product.files.values())))
            crs = QgsCoordinateReferenceSystem.fromWkt(band_grid.crs_wkt)
            extent = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
            xmin, ymin, xmax, ymax = band_grid.bounds
            bounds = (max(extent.xMinimum(), xmin), max(extent.yMinimum(), ymin),
                      min(extent.xMaximum(), xmax), min(extent.yMaximum(), ymax))
            if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
                raise QgsProcessingException(self.tr("EXTENT: the extent does not overlap the product."))
        grid = output_grid(product, resolution, bounds)
        feedback.pushInfo(self.tr("%s %s, baseline %s: bands %s on a %d × %d grid of %d m") % (
            product.level, product.date or "(date unknown)", product.baseline or "unknown",
            ", ".join(product.files), grid.width, grid.height, resolution))
        writer = write_stack(product, grid, resolution, output, driver, feedback, stage=self.stage)
        feedback.pushInfo(self.tr("Offsets removed: %s") % writer.metadata["OFFSET_REMOVED"])
        self.warn_mostly_nodata(writer, self.OUTPUT, feedback)
        natural_colour_on_load(context, output)
        return {self.OUTPUT: output}
