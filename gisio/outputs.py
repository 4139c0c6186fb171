"""Outputs: writable-destination checks, raster formats, and styling of outputs loaded into the project."""
import os

from qgis.core import (QgsProcessingException, QgsProcessingLayerPostProcessorInterface,
                       QgsRasterFileWriter)

from .messages import tr

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


#: One post-processor per style, kept alive here: QGIS holds only a non-owning pointer.
_STYLERS = {}


def style_on_load(context, layer_id, qml_name):
    """Style the output ``layer_id`` with ``resources/<qml_name>`` when QGIS loads it into the project."""
    if context.willLoadLayerOnCompletion(layer_id):
        styler = _STYLERS.setdefault(qml_name, _LoadStyle(qml_name))
        context.layerToLoadOnCompletionDetails(layer_id).setPostProcessor(styler)


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
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise QgsProcessingException(tr("%s: %s cannot be written (permission denied); choose another place.")
                                     % (parameter, path))


def raster_driver(parameter, path):
    """GDAL driver short name for a raster output path, from its extension."""
    driver = QgsRasterFileWriter.driverForExtension(os.path.splitext(path)[1])
    if not driver:
        raise QgsProcessingException(tr("%s: no raster format is known for the extension of %s; use .tif.")
                                     % (parameter, path))
    return driver
