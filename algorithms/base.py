"""What every Fusion PV Mapping algorithm shares: naming, groups, help, cancel, progress and the Sentinel-2 input."""
import math
import os
from collections import Counter
from enum import Enum

from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QIcon
import numpy as np
from qgis.core import (QgsCoordinateReferenceSystem, QgsMapLayer, QgsProcessing, QgsProcessingAlgorithm,
                       QgsProcessingException, QgsProcessingFeatureSourceDefinition,
                       QgsProcessingOutputLayerDefinition, QgsProcessingOutputNumber, QgsProperty,
                       QgsProcessingParameterBand, QgsProcessingParameterBoolean, QgsProcessingParameterCrs,
                       QgsProcessingParameterDateTime,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString, QgsProcessingUtils,
                       QgsWkbTypes)

from ..core import composite
from ..core.bands import ROLE_BANDS, ROLES, GEE_LAYOUTS
from ..core.fusion import DEFAULT_MIN_AREA_PIXELS
from ..core.ndpi import DEFAULT_OFFSET, DEFAULT_SCALE
from ..core.material_flows import FlowModelError
from ..core.progress import Cancelled, Progress
from ..core.s2_products import BASELINE_04_OFFSET
from ..gisio.engines import EngineError, run_jobs
from ..gisio.messages import CANCELLED, tr
from ..gisio.outputs import (RESOURCES, StagedOutputs, check_writable, file_destination, raster_driver,
                              same_file, style_on_load)
from ..gisio.region import DONE, FAILED, REUSED, ResultsFolder
from ..gisio.tables import CSV_LAYER_OPTIONS, for_csv, make_feature, make_fields, write_and_close
from ..gisio.priors import prior_source
from ..gisio.sentinel2 import BAND_PARAMETERS, open_sentinel2
from ..gisio.stac_items import counting_fetches, is_item_collection, url_of
from ..gisio.time_series import (item_series_by_grid, netcdf_series, netcdf_series_by_grid, stacks_series,
                                stacks_series_by_grid)
from ..gisio.vector import gdal_wkt, holds_plant_polygons

#: The README, which documents each algorithm under a heading of its id (the dialog's Help button opens it).
README = os.path.join(os.path.dirname(RESOURCES), "README.md")
#: Parameter types whose values are input files or layers.
INPUT_TYPES = ("raster", "vector", "source", "layer", "multilayer", "file")
#: Share of nodata pixels in an output band above which the user is warned.
MOSTLY_NODATA = 0.5
#: Failures of reading or writing data that become a message naming the parameter and the file.
DATA_FAILURES = (RuntimeError, OSError, MemoryError, FlowModelError, UnicodeError)


class Group(Enum):
    """Toolbox groups: (id, name)."""
    PV_MAPPING = ("pvmapping", "PV mapping")
    SENTINEL2_INPUT = ("sentinel2input", "Sentinel-2 input")
    ACCURACY = ("accuracy", "Accuracy")
    URBAN_MINING = ("urbanmining", "Urban mining")
    DEEP_MODELS = ("deepmodels", "Deep models and context")


class FusionPvAlgorithm(QgsProcessingAlgorithm):
    """Base of the ``fusionpv`` algorithms. A subclass sets ``ID``, ``DISPLAY_NAME``, ``GROUP`` and ``HELP`` (HTML
    whose ``{name}`` fields :meth:`help_values` fills from the core's constants)."""
    ID = ""
    DISPLAY_NAME = ""
    GROUP = Group.PV_MAPPING
    HELP = ""
    #: Decimals shown in the dialog for decimal number parameters, by name (default: QGIS's six).
    DECIMALS = {}
    SCALE = "SCALE"
    OFFSET = "OFFSET"

    def addParameter(self, parameter, createOutput=True):  # noqa: N802,N803 (QGIS API name)
        """Add a parameter; decimal numbers get the decimals of :data:`DECIMALS`."""
        if parameter.name() in self.DECIMALS:
            metadata = parameter.metadata()
            metadata.setdefault("widget_wrapper", {})["decimals"] = self.DECIMALS[parameter.name()]
            parameter.setMetadata(metadata)
        return super().addParameter(parameter, createOutput)

    def name(self):
        return self.ID

    def displayName(self):  # noqa: N802 (QGIS API name)
        return self.tr(self.DISPLAY_NAME)

    def group(self):
        return self.tr(self.GROUP.value[1])

    def groupId(self):  # noqa: N802 (QGIS API name)
        return self.GROUP.value[0]

    def createInstance(self):  # noqa: N802 (QGIS API name)
        return type(self)()

    def icon(self):
        return QIcon(os.path.join(RESOURCES, "icon.svg"))

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return self.tr(self.HELP).format(**self.help_values()).replace("</p><p>", "</p>\n<p>")

    # --- the run: checks before, staged outputs, failures as messages ------------------------------------------

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        """Check what every algorithm must before it reads anything: finite numbers within their bounds, and
        destinations that can be written, in a format that can be created, and that are neither an input nor
        another output."""
        self.input_files = self._input_files(parameters, context)
        self._check_numbers(parameters, context)
        self._check_destinations(parameters, context)
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API name)
        """:meth:`compute` with its files staged: they appear at their destinations only when the whole run
        succeeded. GDAL, file-system and model failures become a QgsProcessingException naming the parameter."""
        self.stage = StagedOutputs()
        self.after_success = []
        try:
            try:
                results = self.compute(parameters, context, feedback)
            except Cancelled:
                raise QgsProcessingException(CANCELLED) from None
            except DATA_FAILURES as error:
                raise QgsProcessingException(self._failure_message(error)) from error
        except BaseException:
            self.stage.discard()
            raise
        self.stage.commit()
        for tidy in self.after_success:
            tidy()
        return results

    def compute(self, parameters, context, feedback):
        """The algorithm itself: parameters → I/O → core → outputs. Returns the results."""
        raise NotImplementedError

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS API name)
        """QGIS's checks, with a message that names the parameter (as scripts and models know it)."""
        ok, message = super().checkParameterValues(parameters, context)
        if ok:
            return ok, message
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            if not definition.checkValueIsAcceptable(value, context):
                return False, self.tr("%s: %s is not a valid value for '%s'.") % (
                    definition.name(), self._unacceptable(definition, value, context), definition.description())
        return ok, message

    @staticmethod
    def _unacceptable(definition, value, context):
        """What of ``value`` a parameter refuses: of a list, the items it refuses alone (a layer list of a hundred
        tiles names the one it cannot load); else the value."""
        if value in (None, ""):
            return "nothing"
        if isinstance(value, (list, tuple)):
            refused = [item for item in value if not definition.checkValueIsAcceptable([item], context)]
            if refused and len(refused) < len(value):
                return ", ".join(map(repr, refused))
        return repr(value)

    def _failure_message(self, error):
        """A message for a failure while reading or writing, naming the parameter whose file it concerns."""
        text = str(error).strip() or type(error).__name__
        for path, parameter in self.input_files.items():
            if path and path in text:
                return self.tr("%s: %s cannot be read: %s") % (parameter, path, text)
        return self.tr("The run failed and no output was written: %s") % text

    def _input_files(self, parameters, context):
        """{file path: parameter name} of every input given as a file or file-based layer."""
        files = {}
        for definition in self.parameterDefinitions():
            if definition.type() not in INPUT_TYPES or parameters.get(definition.name()) in (None, ""):
                continue
            values = parameters[definition.name()]
            for value in values if isinstance(values, (list, tuple)) else [values]:
                path = self._input_path(value, context)
                if path and os.path.isdir(path):  # a folder of band files: each file is an input
                    files.update({os.path.join(root, name): definition.name()
                                  for root, _, names in os.walk(path) for name in names})
                elif path:
                    files[path] = definition.name()
        return files

    @staticmethod
    def _input_path(value, context):
        """The file behind an input value (path, layer, layer id or source definition), or None."""
        if isinstance(value, QgsProcessingFeatureSourceDefinition):
            value = value.source.staticValue()
        if isinstance(value, QgsMapLayer):
            value = value.source()
        elif isinstance(value, str) and not os.path.exists(value.split("|")[0]):
            layer = QgsProcessingUtils.mapLayerFromString(value, context)
            value = layer.source() if layer is not None else value
        if not isinstance(value, str):
            return None
        path = file_destination(value)
        return os.path.abspath(path) if path and os.path.exists(path) else None

    def _check_numbers(self, parameters, context):
        """Every number given must be finite and within its parameter's bounds."""
        for definition in self.parameterDefinitions():
            if definition.type() != "number" or parameters.get(definition.name()) in (None, ""):
                continue
            value = self.parameterAsDouble(parameters, definition.name(), context)
            if not math.isfinite(value) or not definition.minimum() <= value <= definition.maximum():
                raise QgsProcessingException(self.tr("%s: give a number from %g to %g (got %s).") % (
                    definition.name(), definition.minimum(), definition.maximum(), parameters[definition.name()]))

    def _check_destinations(self, parameters, context):
        """Each file destination: its folder writable, a raster format that can be written, not an input file and
        not the destination of another output."""
        taken = {}
        for definition in self.destinationParameterDefinitions():
            name = definition.name()
            path = self.destination_file(parameters, name, context)
            if not path:
                continue
            check_writable(name, path)
            if definition.type() == "rasterDestination":
                raster_driver(name, path)
            for used, owner in list(self.input_files.items()) + list(taken.items()):
                if same_file(path, used):
                    raise QgsProcessingException(self.tr(
                        "%s: %s is also %s; choose another file, so that it is not overwritten.") % (
                        name, path, self.tr("the input %s") % owner if used in self.input_files else owner))
            taken[os.path.abspath(path)] = name

    def destination_file(self, parameters, name, context):
        """The file the destination ``name`` will write (its format's extension added when it has none), or None
        for a temporary or non-file output. Read from the parameter value alone: QGIS's parameterAsOutputLayer
        registers one more layer to load for a temporary output at every call, so it is called once, by the run."""
        value = parameters.get(name)
        if isinstance(value, QgsProcessingOutputLayerDefinition):
            value = value.sink
        if isinstance(value, QgsProperty):
            value = value.valueAsString(context.expressionContext(), "")[0]
        path = file_destination(value) if isinstance(value, str) else None
        if not path or path == QgsProcessing.TEMPORARY_OUTPUT:
            return None
        if path.endswith(("/", os.sep)) or os.path.isdir(path):
            raise QgsProcessingException(self.tr("%s: %s is a folder; give a file name in it.") % (name, path))
        if not os.path.splitext(path)[1]:
            path += "." + self.parameterDefinition(name).defaultFileExtension()
        return path

    def write_sink(self, parameters, name, context, fields, features, geometry_type=QgsWkbTypes.Type.NoGeometry,
                   crs=None):
        """Write ``features`` (of ``fields``) to the feature sink output ``name`` and close it; returns its
        destination id, or None when an optional output was not asked for."""
        layer_options = []
        if (self.destination_file(parameters, name, context) or "").lower().endswith(".csv"):
            fields, features = for_csv(fields, features)
            layer_options = CSV_LAYER_OPTIONS
        sink, dest_id = self.parameterAsSink(parameters, name, context, fields, geometry_type,
                                             crs or QgsCoordinateReferenceSystem(), layerOptions=layer_options)
        if sink is None:
            if self.parameterDefinition(name).flags() & QgsProcessingParameterDefinition.Flag.FlagOptional:
                return None
            raise QgsProcessingException(self.invalidSinkError(parameters, name))
        write_and_close(sink, features, self.tr("%s: the features could not be written.") % name)
        return dest_id

    def warn_mostly_nodata(self, writer, parameter, feedback):
        """Warn about each band of a finished raster output that is mostly nodata."""
        for band, share in writer.nodata_shares():
            if share >= MOSTLY_NODATA:
                feedback.pushWarning(self.tr("%s: band %s is %.1f %% nodata; check the inputs and the parameters "
                                             "that select pixels.") % (parameter, band, 100 * share))

    def staged_file(self, path):
        """A temporary name for the file output ``path``: it is moved in place when the whole run succeeded."""
        return self.stage.temporary(path)

    def helpUrl(self):  # noqa: N802 (QGIS API name)
        return QUrl.fromLocalFile(README).toString() + "#fusionpv" + self.ID

    def help_values(self):
        """The constants the help text shows, by the names its ``{fields}`` use."""
        return {}

    @staticmethod
    def tr(text):
        return tr(text)

    OUTPUT_REPORT = "OUTPUT_REPORT"

    def add_advanced(self, parameters):
        """Add ``parameters`` as advanced parameters."""
        for parameter in parameters:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(parameter)

    def add_scale_and_offset(self):
        """Add SCALE and OFFSET (reflectance = (DN + OFFSET) / SCALE) as advanced parameters."""
        self.add_advanced([
            QgsProcessingParameterNumber(
                self.SCALE, self.tr("Scale: reflectance = (DN + offset) / scale"),
                QgsProcessingParameterNumber.Type.Double, DEFAULT_SCALE, minValue=1e-12, maxValue=1e12),
            QgsProcessingParameterNumber(
                self.OFFSET, self.tr("Offset added to DN (%g: L2A from 04.00)") % BASELINE_04_OFFSET,
                QgsProcessingParameterNumber.Type.Double,
                DEFAULT_OFFSET, minValue=-1e9, maxValue=1e9)])

    def add_report_and_numbers(self, numbers):
        """Add the optional HTML report OUTPUT_REPORT and a number output for each name in ``numbers``."""
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Report"), self.tr("HTML files (*.html)"), optional=True,
            createByDefault=False))
        for name in numbers:
            self.addOutput(QgsProcessingOutputNumber(name, name.replace("_", " ").capitalize()))

    def report_path(self, parameters, context):
        """The OUTPUT_REPORT file (checked with every destination before the run), or "" when none is wanted."""
        return self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)

    def optional_raster_file(self, parameters, name, context):
        """(path, CRS as WKT) of the optional raster layer parameter ``name``, or None when it is not given; a
        layer that is not a GDAL file with a CRS is refused naming ``name``."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            return None
        if layer.providerType() != "gdal" or not layer.crs().isValid():
            raise QgsProcessingException(self.tr("%s: '%s' must be a raster file that GDAL reads, with a coordinate "
                                                 "reference system.") % (name, layer.name()))
        return layer.source(), gdal_wkt(layer.crs())

    @staticmethod
    def check_cancelled(feedback):
        """Raise the cancel message as a QgsProcessingException when the user cancelled."""
        if feedback.isCanceled():
            raise QgsProcessingException(CANCELLED)

    @staticmethod
    def core_progress(feedback, start, end):
        """A core :class:`~..core.progress.Progress` reporting to ``feedback`` within ``start``–``end`` %."""
        def report(percent, message):
            feedback.setProgress(percent)
            if message:
                feedback.setProgressText(message)
        return Progress(report, feedback.isCanceled).span(start, end)


class Sentinel2Algorithm(FusionPvAlgorithm):
    """An algorithm whose input is a Sentinel-2 image: INPUT, the six BAND_* overrides, SCALE and OFFSET."""
    INPUT = "INPUT"
    DECIMALS = {FusionPvAlgorithm.SCALE: 2, FusionPvAlgorithm.OFFSET: 1}
    SENTINEL2_HELP = (
        "<p><b>Sentinel-2 input</b>: a stack with bands {role_bands}. Band roles come from band descriptions (B2, "
        "B02, B8A…), otherwise from the band count of the usual Earth Engine exports ({layouts}); the band "
        "parameters (advanced) override them. Reflectance = (DN + OFFSET) / SCALE (defaults {scale:g} and "
        "{offset:g}). The index is <i>not</i> offset-invariant: for L2A products of processing baseline 04.00 or "
        "later that were not harmonised, set OFFSET to {baseline_offset:g}.</p>")

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return super().shortHelpString() + "\n" + self.tr(self.SENTINEL2_HELP).format(
            role_bands=", ".join(ROLE_BANDS[role] for role in ROLES), scale=DEFAULT_SCALE, offset=DEFAULT_OFFSET,
            baseline_offset=BASELINE_04_OFFSET, layouts="; ".join(
                "%d bands: %s" % (count, " ".join(bands)) for count, bands in sorted(GEE_LAYOUTS.items())))

    def add_sentinel2_parameters(self):
        """Add INPUT, then the six BAND_* overrides, SCALE and OFFSET as advanced parameters."""
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Sentinel-2 image")))
        self.add_advanced([QgsProcessingParameterBand(
            BAND_PARAMETERS[role], self.tr("Band for %s (%s); empty = detect") % (role, ROLE_BANDS[role]), None,
            self.INPUT, optional=True) for role in ROLES])
        self.add_scale_and_offset()

    def read_sentinel2(self, parameters, context, feedback, roles=ROLES):
        """The INPUT image with its ``roles`` bands, by default the six (see
        :func:`..gisio.sentinel2.open_sentinel2`)."""
        overrides = {role: self.parameterAsInt(parameters, BAND_PARAMETERS[role], context) for role in ROLES}
        return open_sentinel2(self.parameterAsRasterLayer(parameters, self.INPUT, context), overrides,
                              self.parameterAsDouble(parameters, self.SCALE, context),
                              self.parameterAsDouble(parameters, self.OFFSET, context), feedback, self.INPUT, roles)


class DateRange:
    """START_DATE and END_DATE (mixed in before the algorithm's base)."""
    START_DATE = "START_DATE"
    END_DATE = "END_DATE"

    def add_date_parameters(self):
        for name, label in ((self.START_DATE, self.tr("From date")), (self.END_DATE, self.tr("To date"))):
            self.addParameter(QgsProcessingParameterDateTime(name, label, QgsProcessingParameterDateTime.Type.Date,
                                                             optional=True))

    def date_limits(self, parameters, context):
        """(START_DATE, END_DATE) as dates (None where not given)."""
        return tuple(self.parameterAsDateTime(parameters, name, context).date().toPyDate()
                     if parameters.get(name) else None for name in (self.START_DATE, self.END_DATE))


class TimeSeriesAlgorithm(DateRange, FusionPvAlgorithm):
    """Base of the algorithms reading a Sentinel-2 time series: INPUT, CLEAR_CLASSES, START_DATE and END_DATE."""
    INPUT = "INPUT"
    CLEAR_CLASSES = "CLEAR_CLASSES"

    def add_time_series_parameters(self, input_label):
        self.addParameter(QgsProcessingParameterMultipleLayers(self.INPUT, input_label,
                                                               QgsProcessing.SourceType.TypeFile))
        self.addParameter(QgsProcessingParameterString(
            self.CLEAR_CLASSES, self.tr("Clear SCL classes (comma-separated)"),
            ",".join(map(str, composite.DEFAULT_CLEAR_CLASSES))))
        self.add_date_parameters()

    def read_time_series(self, parameters, context, feedback, folder, require_scl=True, by_grid=False):
        """The INPUT time series: netCDF files, or stacks / composites / products (stacked into ``folder``); with
        ``by_grid`` a list of one series per grid (tile or area), else one series on one grid."""
        paths = self.parameterAsFileList(parameters, self.INPUT, context)
        if not paths:
            raise QgsProcessingException(self.tr("INPUT: give an openEO netCDF file, L2A stacks / products, or a "
                                                 "STAC ItemCollection (.json, from Find Sentinel-2 imagery)."))
        missing = [path for path in paths if not os.path.exists(path)]
        if missing:
            raise QgsProcessingException(self.tr("INPUT: %s does not exist.") % ", ".join(missing))
        collections = [path for path in paths if is_item_collection(path)]
        if collections and len(collections) < len(paths):
            raise QgsProcessingException(self.tr(
                "INPUT: give STAC ItemCollections (.json) or rasters, not both (%s is an ItemCollection, %s is "
                "not).") % (collections[0], next(path for path in paths if path not in collections)))
        if collections:
            with counting_fetches() as counted:  # the BOA offset checks read overviews
                tiles = item_series_by_grid(collections, feedback, self.INPUT)
            self.fetched_reading = counted.totals
            if by_grid:
                return tiles
            if len(tiles) > 1:
                raise QgsProcessingException(self.tr(
                    "INPUT: the items of %s lie on %d tiles (%s, %s, …); search with an EXTENT inside one tile, or "
                    "keep the items of one tile.") % (", ".join(collections), len(tiles), tiles[0].tile,
                                                      tiles[1].tile))
            return tiles[0]
        if all(path.lower().endswith(".nc") for path in paths):
            if by_grid:
                return netcdf_series_by_grid(paths, self.INPUT, folder)
            return netcdf_series(paths, self.INPUT, folder)
        if by_grid:
            return stacks_series_by_grid(paths, feedback, folder, self.INPUT, require_scl)
        return stacks_series(paths, feedback, folder, self.INPUT, require_scl)

    def log_fetched(self, totals, feedback):
        """Say what the reads of STAC items fetched (``totals``: the ``fetched`` of each job, see
        ``stac_items.remote_reading``, with what reading the items fetched) and warn of each date left out, naming
        its item and URL."""
        totals = [one for one in [getattr(self, "fetched_reading", None), getattr(self, "fetched_planning", None)]
                  + list(totals) if one]
        left_out = {}
        for item, band, path, error, _ in (failure for one in totals for failure in one["failures"]):
            left_out.setdefault((item, band, url_of(path), error), 0)
            left_out[(item, band, url_of(path), error)] += 1
        for (item, band, url, error), count in left_out.items():
            feedback.pushWarning(self.tr("Item %s: %s could not be read from %s (%s: the file is missing or broken, "
                                         "a rerun would read the same); that date is left out in %d window(s).")
                                 % (item, band, url, error, count))
        fetched = sum(one["bytes"] for one in totals)
        whole = sum({path: size for one in totals for path, size in one["file_bytes"].items()}.values())
        if fetched or any(one["requests"] for one in totals):
            requests = sum(one["requests"] for one in totals)
            files = len({path for one in totals for path in one["file_bytes"]})
            if whole:
                feedback.pushInfo(self.tr("Fetched %.1f MB in %d HTTP request(s): %.2f %% of the %.1f MB of the %d "
                                          "file(s) read from.") % (fetched / 1e6, requests, 100.0 * fetched / whole,
                                                                   whole / 1e6, files))
            else:
                feedback.pushInfo(self.tr("Fetched %.1f MB in %d HTTP request(s); no window needed a file read.")
                                  % (fetched / 1e6, requests))

    def clear_classes(self, parameters, context):
        """The SCL classes of CLEAR_CLASSES as a tuple of integers."""
        text = self.parameterAsString(parameters, self.CLEAR_CLASSES, context)
        try:
            classes = tuple(int(part) for part in text.replace(";", ",").split(",") if part.strip())
        except ValueError:
            classes = ()
        scl = composite.SCL_CLASSES
        if not classes or any(c not in scl for c in classes):
            raise QgsProcessingException(self.tr("CLEAR_CLASSES: give SCL class numbers %d–%d separated by commas "
                                                 "(got '%s').") % (scl[0], scl[-1], text))
        return classes

    def date_filter(self, parameters, context, dates):
        """Bool per date: within START_DATE–END_DATE."""
        start, end = self.date_limits(parameters, context)
        keep = np.ones(len(dates), bool)
        for name, limit in ((self.START_DATE, start), (self.END_DATE, end)):
            if limit is not None and any(d is None for d in dates):
                raise QgsProcessingException(self.tr("%s: the dates of the time series are unknown.") % name)
        if start is not None:
            keep &= np.array([d >= start for d in dates])
        if end is not None:
            keep &= np.array([d <= end for d in dates])
        if not keep.any():
            raise QgsProcessingException(self.tr("START_DATE, END_DATE: no observation falls in the date range."))
        return keep


class PlantMapping:
    """What the plant-mapping algorithms share (mixed in before their base): the prior layers, the minimum plant
    size and the plant layer OUTPUT."""
    TRUSTED_PRIORS = "TRUSTED_PRIORS"
    CANDIDATE_PRIORS = "CANDIDATE_PRIORS"
    MIN_AREA_PIXELS = "MIN_AREA_PIXELS"
    OUTPUT = "OUTPUT"

    def add_prior_parameters(self):
        """Add TRUSTED_PRIORS and CANDIDATE_PRIORS (at least one is needed, see :meth:`prior_layers`)."""
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.TRUSTED_PRIORS, self.tr("Trusted PV priors (refined)"),
            QgsProcessing.SourceType.TypeMapLayer, optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.CANDIDATE_PRIORS, self.tr("Candidate PV priors (confirmed or rejected)"),
            QgsProcessing.SourceType.TypeMapLayer, optional=True))

    def add_min_area_parameter(self):
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_AREA_PIXELS, self.tr("Remove plants of at most this many pixels"),
            QgsProcessingParameterNumber.Type.Integer, DEFAULT_MIN_AREA_PIXELS, minValue=0, maxValue=1000000))

    def add_plants_output(self, label):
        """Add OUTPUT, the plant polygons (a file: the layer is styled when loaded)."""
        sink = QgsProcessingParameterFeatureSink(self.OUTPUT, label, QgsProcessing.SourceType.TypeVectorPolygon)
        sink.setSupportsNonFileBasedOutput(False)
        self.addParameter(sink)

    def prior_layers(self, parameters, context):
        """(trusted layers, candidate layers); at least one must be given."""
        trusted = self.parameterAsLayerList(parameters, self.TRUSTED_PRIORS, context)
        candidate = self.parameterAsLayerList(parameters, self.CANDIDATE_PRIORS, context)
        if not trusted and not candidate:
            raise QgsProcessingException(self.tr(
                "TRUSTED_PRIORS, CANDIDATE_PRIORS: give at least one PV prior layer (polygons or a raster mask)."))
        return trusted, candidate

    def prior_sources(self, layers, image, context, feedback):
        """(trusted, candidate) prior pieces (``core.groups.PriorSource``) on the grid of ``image`` of the layers
        :meth:`prior_layers` gave: polygons are burnt later, only around themselves."""
        feedback.setProgressText(self.tr("Placing the PV priors on the image grid"))
        return tuple(prior_source(role_layers, parameter, image, context, feedback)
                     for role_layers, parameter in zip(layers, (self.TRUSTED_PRIORS, self.CANDIDATE_PRIORS)))

    def write_plants(self, parameters, context, fields, features, crs):
        """Write the plant polygons ``features`` (``fields``, CRS ``crs``) to OUTPUT, styled when loaded; returns
        the destination id."""
        dest_id = self.write_sink(parameters, self.OUTPUT, context, fields, features, QgsWkbTypes.Type.MultiPolygon,
                                  crs)
        style_on_load(context, dest_id, "pv_plants.qml")
        return dest_id


#: Fields of OUTPUT_TILES of the region mappers.
TILE_FIELDS = (("tile", "string", 254), ("status", "string", 8), ("plants", "int"), ("seconds", "double"),
               ("error", "string", 254))


class RegionMapping:
    """What the mappers over many tiles share (mixed in before their base): WORKERS, DASK_SCHEDULER, OUTPUT_CRS
    and OUTPUT_TILES, a resumable results folder beside OUTPUT, and the run of every tile's jobs on the engine
    (``gisio.engines``), the groups of a failed tile given to the tiles that own them once it is left out."""
    WORKERS = "WORKERS"
    DASK_SCHEDULER = "DASK_SCHEDULER"
    OUTPUT_CRS = "OUTPUT_CRS"
    OUTPUT_TILES = "OUTPUT_TILES"
    KEEP_RESULTS = "KEEP_RESULTS"
    ENGINE_HELP = (
        "<p><b>WORKERS</b> processes run tiles side by side (0 = all cores, at most the cores of this machine); "
        "with fewer tiles than workers, a tile's groups are shared out. Workers need GDAL and numpy but no QGIS. "
        "<b>DASK_SCHEDULER</b> (for example tcp://10.0.0.5:8786) sends the tiles to a running dask.distributed "
        "cluster instead; inputs, priors and the plugin folder must then be at the same paths on every worker "
        "(README, \"Map PV plants over a region\").</p>"
        "<p><b>Resumable</b>: each finished job is kept in the folder <i>OUTPUT</i>.tiles beside the output while "
        "the run is unfinished (failed, cancelled or killed); it goes when the run succeeds, unless KEEP_RESULTS. "
        "Run again with the same settings and only the unfinished jobs are done; other settings clear the folder. A "
        "tile that fails is reported in OUTPUT_TILES (tile, status done / reused / failed, plants, seconds, "
        "error) and the others go on; the groups it owned are then decided by the tiles that own them once it is "
        "left out. Cancel stops handing out jobs; finished ones stay for a resume.</p>")

    def add_engine_parameters(self, crs_label, advanced=False):
        """Add WORKERS, DASK_SCHEDULER and OUTPUT_CRS (``crs_label``: what an empty OUTPUT_CRS means), as advanced
        parameters when ``advanced`` (an algorithm most often run on one area)."""
        parameters = [
            QgsProcessingParameterNumber(self.WORKERS, self.tr("Worker processes (0 = all cores)"),
                                         QgsProcessingParameterNumber.Type.Integer, 0, minValue=0, maxValue=1024),
            QgsProcessingParameterString(self.DASK_SCHEDULER, self.tr("Dask scheduler (empty = this machine)"),
                                         optional=True),
            QgsProcessingParameterCrs(self.OUTPUT_CRS, crs_label, optional=True)]
        keep = QgsProcessingParameterBoolean(self.KEEP_RESULTS, self.tr("Keep the tiles' results after a success"),
                                             False)
        if advanced:
            self.add_advanced(parameters + [keep])
        else:
            for parameter in parameters:
                self.addParameter(parameter)
            self.add_advanced([keep])

    def add_tiles_output(self, label):
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TILES, label, QgsProcessing.SourceType.TypeVector, optional=True, createByDefault=False))

    def engine(self, parameters, context, feedback):
        """(worker processes, Dask scheduler address or "") of WORKERS and DASK_SCHEDULER."""
        return (self.worker_count(parameters, context, feedback),
                (self.parameterAsString(parameters, self.DASK_SCHEDULER, context) or "").strip())

    def worker_count(self, parameters, context, feedback):
        """WORKERS, 0 meaning every core, at most the cores of this machine (more processes only wait)."""
        cores = os.cpu_count() or 1
        asked = self.parameterAsInt(parameters, self.WORKERS, context)
        if asked > cores:
            feedback.pushWarning(self.tr("WORKERS: %d asked, this machine has %d core(s): %d worker process(es) "
                                         "run.") % (asked, cores, cores))
        return min(asked or cores, cores)

    def output_crs(self, parameters, context, default):
        """OUTPUT_CRS, or ``default`` when it is empty; a value QGIS does not know, or a CRS that cannot hold
        plant polygons (geocentric), is refused."""
        given = parameters.get(self.OUTPUT_CRS)
        crs = self.parameterAsCrs(parameters, self.OUTPUT_CRS, context)
        if given in (None, "") and not crs.isValid():
            return default
        if not holds_plant_polygons(crs):
            raise QgsProcessingException(self.tr(
                "OUTPUT_CRS: '%s' is not a projected or geographic CRS that QGIS knows; give one such as EPSG:3035 "
                "or EPSG:4326, or leave it empty for the first tile's.") % (
                crs.authid() or crs.description() or given))
        return crs

    def in_results_folder(self, parameters, context, work):
        """``work(folder path)`` with the results folder of the run (``<OUTPUT>.tiles`` beside a file output, a
        temporary one otherwise) claimed; a folder this run made is removed again when it fails before any job
        finished, and any is removed when the run succeeds (unless KEEP_RESULTS)."""
        destination = self.destination_file(parameters, self.OUTPUT, context)
        folder_path = (os.path.join(QgsProcessingUtils.tempFolder(), self.ID + ".tiles") if destination is None
                       else os.path.splitext(os.path.abspath(destination))[0] + ".tiles")
        new_folder = not os.path.exists(folder_path)
        try:
            claimed = ResultsFolder.claim(folder_path)
        except OSError as error:
            raise QgsProcessingException(self.tr(
                "OUTPUT: the resumable results of the run go to %s beside it, which cannot be written (%s); choose "
                "an OUTPUT in a folder you can write.") % (folder_path, error.strerror or error))
        if not claimed:
            raise QgsProcessingException(self.tr(
                "OUTPUT: %s holds files this plugin did not write, and the resumable results of the run go there; "
                "move them, or choose another OUTPUT.") % folder_path)
        try:
            results = work(folder_path)
        except BaseException:
            if new_folder:
                ResultsFolder.discard_if_unused(folder_path)  # a refused or failed run leaves nothing behind
            raise
        if not self.parameterAsBoolean(parameters, self.KEEP_RESULTS, context):
            self.after_success.append(lambda: ResultsFolder.remove(folder_path))  # once the outputs are in place
        return results

    def run_region(self, names, make_job, run, folder, engine, parts, feedback, stops_the_run=None):
        """Run ``parts`` jobs ``make_job(tile, part, parts)`` for each tile of ``names`` with ``run`` on
        ``engine`` (workers, scheduler), reusing the results ``folder`` (a ``ResultsFolder``) holds; then the
        groups of the tiles that failed, on the tiles that own them once they are left out
        (``make_job(tile, 0, 1, failed)``). Reports progress from 5 to 95 %. Returns (the results of the tiles
        that did not fail by tile and part, then those of the second pass by tile; {tile: its results}). A failed
        job for which ``stops_the_run(result)`` holds stops the run instead (its server did not answer: nothing is
        written, and a rerun may read it)."""
        if folder.cleared:
            feedback.pushWarning(self.tr("%d tile result(s) of other settings were cleared from %s.")
                                 % (folder.cleared, folder.folder))
        results, jobs = {}, []
        for number in range(len(names)):
            reused = folder.complete(number)
            if reused:
                results[number] = [dict(result, status=REUSED) for result in reused]
                continue
            jobs += [make_job(number, part, parts) for part in range(parts)]
        workers, scheduler = engine
        feedback.pushInfo(self.tr("%d tile(s): %d already done in %s, %d job(s) to run on %s.") % (
            len(names), len(results), folder.folder, len(jobs),
            scheduler or self.tr("%d process(es)") % min(workers, max(len(jobs), 1))))
        feedback.setProgress(5)
        width = 90.0 / max(len(jobs), 1)

        def on_result(result):
            folder.store(result)
            results.setdefault(result["tile"], []).append(result)
            if result["status"] == FAILED:
                feedback.pushWarning(self.tr("Tile %s failed: %s") % (names[result["tile"]], result["error"]))
            else:
                feedback.pushInfo(self.tr("Tile %s (part %d of %d): %d plant(s), %d group(s), %.1f s, peak %.0f "
                                          "MiB.") % (names[result["tile"]], result["part"] + 1, result["parts"],
                                                     len(result["plants"]), result["groups"], result["seconds"],
                                                     result["peak_mib"]))
            feedback.setProgress(5 + width * len([r for rs in results.values() for r in rs if r["status"] != REUSED]))

        def progress_of(job):
            done = jobs.index(job)
            return self.core_progress(feedback, 5 + width * done, 5 + width * (done + 1))

        self.run_or_stop(jobs, run, engine, on_result, feedback, folder, progress_of)
        failed = sorted(number for number, parts in results.items() if any(r["status"] == FAILED for r in parts))
        if len(failed) == len(names):
            raise QgsProcessingException(self.tr("INPUT: every tile failed; the first error: %s") % next(
                result["error"] for rs in results.values() for result in rs if result["error"]))
        stopping = [number for number in failed if stops_the_run and any(
            result["status"] == FAILED and stops_the_run(result) for result in results[number])]
        if stopping:
            raise QgsProcessingException(self.tr(
                "INPUT: %d of %d tile(s) could not be read, so nothing was written; the first error: %s. The "
                "finished tiles are kept in %s for a rerun.") % (len(stopping), len(names), next(
                    result["error"] for number in stopping for result in results[number] if result["error"]),
                    folder.folder))
        done = [result for number in sorted(results) if number not in failed
                for result in sorted(results[number], key=lambda result: result["part"])]
        if failed:
            done += sorted(self.decide_for_failed(failed, names, make_job, run, folder, engine, feedback),
                           key=lambda result: result["tile"])
        return done, results

    def run_or_stop(self, jobs, run, engine, on_result, feedback, folder, progress_of=None):
        """Run the jobs; an engine that cannot start or a cancel stops the run with a message."""
        try:
            finished = run_jobs(jobs, run, *engine, on_result, feedback.isCanceled, progress_of)
        except EngineError as error:
            raise QgsProcessingException("%s: %s" % (error.parameter, error))
        if not finished:
            raise QgsProcessingException(CANCELLED + " " + self.tr(
                "Finished jobs are kept in %s; run again to resume.") % folder.folder)

    def decide_for_failed(self, failed, names, make_job, run, folder, engine, feedback):
        """The results of a second pass: the groups the ``failed`` tiles owned, each decided by the tile that owns
        it once they are left out (kept in the results folder like the others)."""
        rescue, results = [], []
        for number in range(len(names)):
            if number in failed:
                continue
            job = make_job(number, 0, 1, tuple(failed))
            stored = folder.load(job.key)
            if stored is not None:
                results.append(stored)
            else:
                rescue.append(job)
        feedback.pushInfo(self.tr("The groups of %d failed tile(s) go to the other tiles that hold them: %d job(s).")
                          % (len(failed), len(rescue)))

        def on_result(result):
            folder.store(result)
            if result["status"] == FAILED:
                feedback.pushWarning(self.tr("Tile %s failed too: %s") % (names[result["tile"]], result["error"]))
            else:
                results.append(result)

        self.run_or_stop(rescue, run, engine, on_result, feedback, folder)
        return results

    def warn_of_pieces(self, features, feedback):
        """Warn when plants reach a tile edge beyond which another tile goes on: they may be pieces."""
        pieces = [feature["plant_id"] for feature in features if feature["at_tile_edge"]]
        if pieces:
            feedback.pushWarning(self.tr(
                "%d plant(s) reach the edge of their tile where a neighbouring tile goes on (plant_id %s; field "
                "at_tile_edge = 1): each may be a piece of a larger plant cut by the tile edge. Give tiles that "
                "overlap by more than the largest plant.") % (len(pieces), ", ".join(map(str, pieces[:20]))
                                                            + (" …" if len(pieces) > 20 else "")))

    def write_tiles(self, parameters, context, names, results, plants):
        """OUTPUT_TILES, when asked for: one row per tile; ``plants`` are the merged plants, (result, WKB,
        values) as ``gisio.region.plants_in_order`` gives them."""
        plant_counts = Counter(result["tile"] for result, _, _ in plants)
        fields = make_fields(TILE_FIELDS)
        rows = []
        for number, name in enumerate(names):
            parts = results.get(number, [])
            failed = [part for part in parts if part["status"] == FAILED]
            status = FAILED if failed else (REUSED if parts and parts[0]["status"] == REUSED else DONE)
            errors = "; ".join(part["error"] for part in parts if part["error"])
            rows.append(make_feature(fields, [name, status, plant_counts.get(number, 0),
                                              sum(part.get("seconds", 0.0) for part in parts), errors[:254]]))
        dest_id = self.write_sink(parameters, self.OUTPUT_TILES, context, fields, rows)
        return {self.OUTPUT_TILES: dest_id} if dest_id is not None else {}
