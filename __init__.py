"""Fusion PV Mapping: a QGIS Processing plugin that maps PV plants from Sentinel-2 imagery."""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    """Entry point QGIS calls to load the plugin."""
    from .plugin import FusionPvMappingPlugin
    return FusionPvMappingPlugin(iface)
