"""What every Fusion PV Mapping algorithm shares: naming, groups, help, cancel, progress and the Sentinel-2 input."""
import os
from enum import Enum

from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QIcon
from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingParameterBand, QgsProcessingParameterDefinition,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer)

from ..core.bands import ROLE_BANDS, ROLES, GEE_LAYOUTS
from ..core.ndpi import DEFAULT_OFFSET, DEFAULT_SCALE
from ..core.progress import Progress
from ..core.s2_products import BASELINE_04_OFFSET
from ..gisio.messages import CANCELLED, tr
from ..gisio.outputs import RESOURCES, check_writable
from ..gisio.sentinel2 import BAND_PARAMETERS, open_sentinel2

#: The README, which documents each algorithm under a heading of its id (the dialog's Help button opens it).
README = os.path.join(os.path.dirname(RESOURCES), "README.md")


class Group(Enum):
    """Toolbox groups: (id, name)."""
    PV_MAPPING = ("pvmapping", "PV mapping")
    SENTINEL2_INPUT = ("sentinel2input", "Sentinel-2 input")
    ACCURACY = ("accuracy", "Accuracy")
    URBAN_MINING = ("urbanmining", "Urban mining")


class FusionPvAlgorithm(QgsProcessingAlgorithm):
    """Base of the ``fusionpv`` algorithms. A subclass sets ``ID``, ``DISPLAY_NAME``, ``GROUP`` and ``HELP`` (HTML
    whose ``{name}`` fields :meth:`help_values` fills from the core's constants)."""
    ID = ""
    DISPLAY_NAME = ""
    GROUP = Group.PV_MAPPING
    HELP = ""

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
        return self.tr(self.HELP).format(**self.help_values())

    def helpUrl(self):  # noqa: N802 (QGIS API name)
        return QUrl.fromLocalFile(README).toString() + "#fusionpv" + self.ID

    def help_values(self):
        """The constants the help text shows, by the names its ``{fields}`` use."""
        return {}

    @staticmethod
    def tr(text):
        return tr(text)

    OUTPUT_REPORT = "OUTPUT_REPORT"

    def add_report_and_numbers(self, numbers):
        """Add the optional HTML report OUTPUT_REPORT and a number output for each name in ``numbers``."""
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Report"), self.tr("HTML files (*.html)"), optional=True,
            createByDefault=False))
        for name in numbers:
            self.addOutput(QgsProcessingOutputNumber(name, name.replace("_", " ").capitalize()))

    def report_path(self, parameters, context):
        """The OUTPUT_REPORT file (its folder checked for writing), or an empty string when none is wanted."""
        path = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        if path:
            check_writable(self.OUTPUT_REPORT, path)
        return path

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
    SCALE = "SCALE"
    OFFSET = "OFFSET"
    SENTINEL2_HELP = (
        "<p><b>Sentinel-2 input</b>: a stack with bands {role_bands}. Band roles come from band descriptions (B2, "
        "B02, B8A…), otherwise from the band count of the usual Earth Engine exports ({layouts}); the band "
        "parameters (advanced) override them. Reflectance = (DN + OFFSET) / SCALE (defaults {scale:g} and "
        "{offset:g}). The index is <i>not</i> offset-invariant: for L2A products of processing baseline 04.00 or "
        "later that were not harmonised, set OFFSET to {baseline_offset:g}.</p>")

    def shortHelpString(self):  # noqa: N802 (QGIS API name)
        return super().shortHelpString() + self.tr(self.SENTINEL2_HELP).format(
            role_bands=", ".join(ROLE_BANDS[role] for role in ROLES), scale=DEFAULT_SCALE, offset=DEFAULT_OFFSET,
            baseline_offset=BASELINE_04_OFFSET, layouts="; ".join(
                "%d bands: %s" % (count, " ".join(bands)) for count, bands in sorted(GEE_LAYOUTS.items())))

    def add_sentinel2_parameters(self):
        """Add INPUT, then the six BAND_* overrides, SCALE and OFFSET as advanced parameters."""
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Sentinel-2 image")))
        advanced = [QgsProcessingParameterBand(
            BAND_PARAMETERS[role], self.tr("Band for %s (%s); empty = detect") % (role, ROLE_BANDS[role]), None,
            self.INPUT, optional=True) for role in ROLES]
        advanced.append(QgsProcessingParameterNumber(
            self.SCALE, self.tr("Scale: reflectance = (DN + offset) / scale"), QgsProcessingParameterNumber.Double,
            DEFAULT_SCALE, minValue=1e-12, maxValue=1e12))
        advanced.append(QgsProcessingParameterNumber(
            self.OFFSET, self.tr("Offset added to DN before scaling (%g for non-harmonised L2A, baseline ≥ 04.00)")
            % BASELINE_04_OFFSET, QgsProcessingParameterNumber.Double, DEFAULT_OFFSET, minValue=-1e9,
            maxValue=1e9))
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)

    def read_sentinel2(self, parameters, context, feedback):
        """The INPUT image with its six role bands (see :func:`..gisio.sentinel2.open_sentinel2`)."""
        overrides = {role: self.parameterAsInt(parameters, BAND_PARAMETERS[role], context) for role in ROLES}
        return open_sentinel2(self.parameterAsRasterLayer(parameters, self.INPUT, context), overrides,
                              self.parameterAsDouble(parameters, self.SCALE, context),
                              self.parameterAsDouble(parameters, self.OFFSET, context), feedback, self.INPUT)
