"""Messages shown to the user: translation in the plugin's context, and the words every algorithm shares."""
from qgis.PyQt.QtCore import QCoreApplication


def tr(text):
    """Translate ``text`` in the plugin's context."""
    return QCoreApplication.translate("FusionPvMapping", text)


#: Raised as a QgsProcessingException when the user cancels.
CANCELLED = tr("Cancelled: no output was written.")
