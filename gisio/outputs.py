"""Outputs: destination checks, staging (all outputs of a run appear together or not at all), and styling of
outputs loaded into the project."""
import os
import shutil
import tempfile

from osgeo import gdal
from qgis.PyQt import sip
from qgis.PyQt.QtGui import QColor
from qgis.core import (QgsCategorizedSymbolRenderer, QgsColorRampShader, QgsContrastEnhancement, QgsFillSymbol,
                       QgsMultiBandColorRenderer, QgsPalettedRasterRenderer, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface, QgsRasterFileWriter, QgsRasterMinMaxOrigin,
                       QgsRasterShader, QgsRendererCategory, QgsSingleBandPseudoColorRenderer)

from ..core.bands import sentinel2_band_name
from .messages import tr
from .raster import RasterReadError, delete_dataset, move_dataset, raster_info, temporary_path

#: The plugin's QML styles and icon.
RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources")


def number_or_null(value):
    """A float attribute or output, or None (NULL) for None and NaN."""
    return None if value is None or value != value else float(value)


class _LoadStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies a QML style from ``resources/`` to an output once QGIS has loaded it."""

    def __init__(self, qml_name):
        super().__init__()
        self.qml_path = os.path.join(RESOURCES, qml_name)

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        message, ok = layer.loadNamedStyle(self.qml_path)
        if not ok:
            feedback.pushWarning(tr("Could not apply style %s: %s") % (self.qml_path, message))
        layer.triggerRepaint()


class _NaturalColour(QgsProcessingLayerPostProcessorInterface):
    """Shows a Sentinel-2 stack in natural colour (B04, B03, B02 from the band descriptions), stretched to the
    2–98 % cumulative cut of each band."""

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        try:
            descriptions = raster_info(layer.source()).descriptions
        except RasterReadError:
            return
        number = {sentinel2_band_name(d): n for n, d in enumerate(descriptions, start=1) if sentinel2_band_name(d)}
        if not all(band in number for band in ("B04", "B03", "B02")):
            return
        layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), number["B04"], number["B03"],
                                                    number["B02"]))
        layer.setContrastEnhancement(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum,
                                     QgsRasterMinMaxOrigin.Limits.CumulativeCut)
        layer.triggerRepaint()


def _colour(colour):
    """A QColor from '#rrggbb', or fully transparent for None."""
    return QColor(colour) if colour else QColor(0, 0, 0, 0)


class _Classes(QgsProcessingLayerPostProcessorInterface):
    """Shows band ``band`` of a raster with one named colour per class value: ``categories`` is [(value, name,
    '#rrggbb' or None for transparent)]; values not listed are not drawn."""

    def __init__(self, categories, band=1):
        super().__init__()
        self.categories, self.band = categories, band

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        classes = [QgsPalettedRasterRenderer.Class(value, _colour(colour), name)
                   for value, name, colour in self.categories]
        layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), self.band, classes))
        layer.triggerRepaint()


class _Ramp(QgsProcessingLayerPostProcessorInterface):
    """Shows band ``band`` of a raster as a colour ramp through ``stops`` [(value, '#rrggbb' or Qt's '#aarrggbb',
    label)], interpolated between them, with a legend entry per stop."""

    def __init__(self, band, stops):
        super().__init__()
        self.band, self.stops = band, stops

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        ramp = QgsColorRampShader(self.stops[0][0], self.stops[-1][0])
        ramp.setColorRampType(QgsColorRampShader.Type.Interpolated)
        ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(value, QColor(colour), label)
                                   for value, colour, label in self.stops])
        shader = QgsRasterShader()
        shader.setRasterShaderFunction(ramp)
        renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), self.band, shader)
        renderer.setClassificationMin(self.stops[0][0])
        renderer.setClassificationMax(self.stops[-1][0])
        layer.setRenderer(renderer)
        layer.triggerRepaint()


class _Categories(QgsProcessingLayerPostProcessorInterface):
    """Shows a polygon layer by the values of ``field``: ``categories`` is [(value, label, '#rrggbb')]."""

    def __init__(self, field, categories):
        super().__init__()
        self.field, self.categories = field, categories

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        categories = []
        for value, label, colour in self.categories:
            symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": QColor(colour).darker(160).name(),
                                                 "outline_width": "0.4"})
            symbol.setOpacity(0.7)
            categories.append(QgsRendererCategory(value, symbol, label))
        layer.setRenderer(QgsCategorizedSymbolRenderer(self.field, categories))
        layer.triggerRepaint()


#: Post-processors handed to QGIS, kept here until QGIS has deleted them (it holds the C++ side only).
_HANDED_OVER = []


def _post_process_on_load(context, layer_id, processor):
    """Give QGIS ``processor`` (a new one per output: QGIS deletes it after the run, so one cannot be reused)
    for the output ``layer_id`` when it will be loaded into the project."""
    if context.willLoadLayerOnCompletion(layer_id):
        _HANDED_OVER[:] = [handed for handed in _HANDED_OVER if not sip.isdeleted(handed)]
        _HANDED_OVER.append(processor)
        context.layerToLoadOnCompletionDetails(layer_id).setPostProcessor(processor)


def style_on_load(context, layer_id, qml_name):
    """Style the output ``layer_id`` with ``resources/<qml_name>`` when QGIS loads it into the project."""
    _post_process_on_load(context, layer_id, _LoadStyle(qml_name))


def natural_colour_on_load(context, layer_id):
    """Show the Sentinel-2 stack ``layer_id`` in stretched natural colour when QGIS loads it."""
    _post_process_on_load(context, layer_id, _NaturalColour())


def classes_on_load(context, layer_id, categories, band=1):
    """Show band ``band`` of the class raster ``layer_id`` with ``categories`` ([(value, name, '#rrggbb' or None
    for transparent), …]) when loaded."""
    _post_process_on_load(context, layer_id, _Classes(categories, band))


def ramp_on_load(context, layer_id, band, stops):
    """Show band ``band`` of ``layer_id`` as a colour ramp through ``stops`` ([(value, colour, label)]) when
    loaded."""
    _post_process_on_load(context, layer_id, _Ramp(band, stops))


def categories_on_load(context, layer_id, field, categories):
    """Show the polygon layer ``layer_id`` by ``field``, ``categories`` being [(value, label, '#rrggbb')]."""
    _post_process_on_load(context, layer_id, _Categories(field, categories))


def file_destination(path):
    """The file path inside an output destination (``ogr:`` URIs and layer options stripped), or None."""
    if not path or "://" in path or path.startswith(("memory:", "postgres:", "postgis:", "spatialite:")):
        return None
    if path.startswith("ogr:"):
        path = path[4:].split("|")[0].strip("'\"")
        if path.startswith("dbname="):
            path = path[len("dbname="):].split(" ")[0].strip("'\"")
    return path.split("|")[0]


def check_writable(parameter, path):
    """Raise a QgsProcessingException naming ``parameter`` when ``path``'s folder cannot be written."""
    path = file_destination(path)
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise QgsProcessingException(tr("%s: the folder %s does not exist; choose an existing folder.")
                                     % (parameter, folder))
    if not _can_create_in(folder) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise QgsProcessingException(tr("%s: %s cannot be written (permission denied); choose another place.")
                                     % (parameter, path))


def _can_create_in(folder):
    """Can a file be created in ``folder``? Tried for real: permissions alone say yes to root, even in /proc."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".fusionpv-write-test-", dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.remove(probe)
    return True


def raster_driver(parameter, path):
    """GDAL driver short name for a raster output path, from its extension; the format must be one GDAL can
    create and write window by window."""
    driver = QgsRasterFileWriter.driverForExtension(os.path.splitext(path)[1])
    if not driver:
        raise QgsProcessingException(tr("%s: no raster format is known for the extension of %s; use .tif.")
                                     % (parameter, path))
    gdal_driver = gdal.GetDriverByName(driver)
    if gdal_driver is None or gdal_driver.GetMetadataItem(gdal.DCAP_CREATE) != "YES":
        raise QgsProcessingException(tr("%s: the %s format of %s can only be copied, not written; use .tif.")
                                     % (parameter, driver, path))
    return driver


def same_file(first, second):
    """Do two paths name the same file (after following links; also when neither exists yet)?"""
    if os.path.exists(first) and os.path.exists(second):
        return os.path.samefile(first, second)
    return os.path.realpath(first) == os.path.realpath(second)


class StagedOutputs:
    """The files of a run's outputs, written under temporary names beside their destinations and moved onto them
    together by :meth:`commit`; :meth:`discard` removes them. Nothing appears at a destination before every output
    of the run has been written."""

    def __init__(self):
        self.moves = []

    def temporary(self, path):
        """A temporary name beside ``path`` (hidden, unique) whose file :meth:`commit` will move onto ``path``."""
        temporary = temporary_path(path)
        self.moves.append((temporary, path, None))
        return temporary

    def raster(self, temporary, path, driver):
        """Register a raster written at ``temporary`` (through GDAL ``driver``, with its side-car files)."""
        self.moves.append((temporary, path, driver))

    def commit(self):
        """Move every staged file onto its destination."""
        for temporary, path, driver in self.moves:
            if driver:
                move_dataset(temporary, path, driver)
            elif os.path.exists(temporary):
                shutil.move(temporary, path)
        self.moves = []

    def discard(self):
        """Remove every staged file."""
        for temporary, _, driver in self.moves:
            if driver:
                delete_dataset(temporary, driver)
            elif os.path.exists(temporary):
                os.remove(temporary)
        self.moves = []
