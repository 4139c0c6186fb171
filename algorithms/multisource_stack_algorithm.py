"""``fusionpv:multisourcestack``: GlobalUrbanMapper's 10-channel input on the Sentinel-2 10 m grid."""

import numpy as np
from qgis.core import QgsProcessingException, QgsProcessingParameterRasterDestination, \
    QgsProcessingParameterRasterLayer

from ..core import multisource
from ..core.ndpi import to_reflectance
from ..core.windows import block_grid, read_shape
from ..gisio.multisource import dem_problems, s1_on_grid, s1_problems, slope_and_aspect
from ..gisio.outputs import raster_driver
from ..gisio.raster import RasterReadError, RasterWriter
from ..gisio.workspace import WorkFolder
from .base import Group, Sentinel2Algorithm


class MultisourceStackAlgorithm(Sentinel2Algorithm):
    """Sentinel-2, Sentinel-1 (both passes) and terrain, normalised as GUM, as one float32 raster."""
    ID = "multisourcestack"
    DISPLAY_NAME = "Multi-source stack (GlobalUrbanMapper input)"
    GROUP = Group.DEEP_MODELS
    INPUT = "S2_INPUT"
    S1_ASCENDING = "S1_ASCENDING"
    S1_DESCENDING = "S1_DESCENDING"
    DEM = "DEM"
    OUTPUT = "OUTPUT"
    HELP = (
        "<p>Builds the input of GlobalUrbanMapper's UNet: one float32 raster on the Sentinel-2 10 m grid with the "
        "channels {channels}, for Run ONNX model.</p>"
        "<p><b>S2_INPUT</b>: a Sentinel-2 stack or composite (band roles found as in the PV index). Reflectance is "
        "clipped to [0, 1]. <b>S1_ASCENDING</b>, <b>S1_DESCENDING</b> (optional): σ⁰ in dB, bands described VV and "
        "VH (else band 1 VV, band 2 VH), any CRS and resolution (resampled bilinearly): nodata and NaN become "
        "{floor:g} dB, values are clipped to [{floor:g}, 0] and scaled to [0, 1] by (x + {minus_floor:g}) / "
        "{minus_floor:g}. <b>DEM</b> (optional, e.g. SRTM, heights in metres): resampled bilinearly onto the grid; "
        "slope (degrees, clipped to [0, {max_slope:g}] / {max_slope:g}) and aspect (degrees, [0, {circle:g}] / "
        "{circle:g}, 0 on flat ground) from GDAL's DEM processing. A missing pass or DEM gives channels of 0; "
        "Sentinel-2 nodata is NaN in every channel.</p>")

    def help_values(self):
        return dict(channels=", ".join(multisource.CHANNELS), floor=multisource.S1_FLOOR_DB,
                    minus_floor=-multisource.S1_FLOOR_DB, max_slope=multisource.MAX_SLOPE_DEGREES,
                    circle=multisource.FULL_CIRCLE_DEGREES)

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API name)
        self.add_sentinel2_parameters()
        for name, label in ((self.S1_ASCENDING, "Sentinel-1 ascending σ⁰ (dB, VV and VH)"),
                            (self.S1_DESCENDING, "Sentinel-1 descending σ⁰ (dB, VV and VH)"),
                            (self.DEM, "Digital elevation model (m)")):
            self.addParameter(QgsProcessingParameterRasterLayer(name, self.tr(label), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Multi-source stack")))

    def compute(self, parameters, context, feedback):
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        sentinel2 = self.read_sentinel2(parameters, context, feedback, multisource.S2_ROLES)
        grid, bands = sentinel2.grid, sentinel2.bands
        passes = {}
        for name in (self.S1_ASCENDING, self.S1_DESCENDING):
            given = self.optional_raster_file(parameters, name, context)
            if given is None:
                feedback.pushInfo(self.tr("%s: not given, its channels are 0.") % name)
                continue
            try:
                for problem in s1_problems(given[0], given[1], grid):
                    feedback.pushWarning("%s: %s" % (name, problem))
                passes[name] = s1_on_grid(given[0], grid, given[1])
            except RasterReadError as error:
                raise QgsProcessingException("%s: %s" % (name, error))
        dem = self.optional_raster_file(parameters, self.DEM, context)
        if dem is not None:
            for problem in dem_problems(dem[0], dem[1], grid):
                feedback.pushWarning("%s: %s" % (self.DEM, problem))
        with WorkFolder("multisource") as folder:
            terrain = None
            if dem is not None:
                feedback.setProgressText(self.tr("Slope and aspect (GDAL DEM processing)"))
                terrain = slope_and_aspect(dem[0], dem[1], grid, folder)
            else:
                feedback.pushInfo(self.tr("DEM: not given, slope and aspect are 0."))
            with RasterWriter(output, grid, np.float32, raster_driver(self.OUTPUT, output), float("nan"),
                              descriptions=multisource.CHANNELS, stage=self.stage) as writer:
                windows = list(block_grid(bands.shape, read_shape(bands.block_shape, bands.shape)))
                for number, window in enumerate(windows):
                    self.check_cancelled(feedback)
                    writer.write_bands(self.channels(bands, window, passes, terrain), *window)
                    feedback.setProgress(100.0 * (number + 1) / len(windows))
            terrain = None  # close the files before the folder goes
        self.warn_mostly_nodata(writer, self.OUTPUT, feedback)
        return {self.OUTPUT: output}

    def channels(self, bands, window, passes, terrain):
        """The 10 normalised channels of one window."""
        dn = bands.read(*window)
        by_role = {role: to_reflectance(dn[role], bands.scale, bands.offset) for role in multisource.S2_ROLES}
        valid = np.ones(dn[multisource.S2_ROLES[0]].shape, bool)
        for role in multisource.S2_ROLES:
            nodata = bands.nodata_by_role.get(role)
            if nodata is not None:
                valid &= dn[role] != nodata
        sigma0 = {name: self.read_window(dataset, window, numbers) for name, (dataset, numbers) in passes.items()}
        slope, aspect = (self.read_window(dataset, window, (1,))[0] for dataset in terrain) if terrain else (None, None)
        return multisource.multisource_window(by_role, valid, sigma0.get(self.S1_ASCENDING),
                                              sigma0.get(self.S1_DESCENDING), slope, aspect)

    @staticmethod
    def read_window(dataset, window, band_numbers):
        """Bands ``band_numbers`` of a dataset on the image grid, for ``window``, as float arrays."""
        rows, cols = window
        return [dataset.GetRasterBand(number).ReadAsArray(
            int(cols.start), int(rows.start), int(cols.stop - cols.start), int(rows.stop - rows.start)).astype(
            np.float32) for number in band_numbers]
