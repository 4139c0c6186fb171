"""Registers the Fusion PV Mapping processing provider with QGIS."""
from qgis.core import QgsApplication

from .algorithms.provider import FusionPvProvider


class FusionPvMappingPlugin:
    """Plugin object: it only owns the processing provider (desktop, ``qgis_process`` and headless use alike)."""

    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        """Add the provider once; QGIS calls this for ``qgis_process`` and the desktop alike."""
        if self.provider is None:
            self.provider = FusionPvProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802 (QGIS API name)
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
