"""Translation helper shared by the algorithms."""
from qgis.PyQt.QtCore import QCoreApplication


def tr(text):
    """Translate ``text`` in the plugin's context."""
    return QCoreApplication.translate("FusionPvMapping", text)
