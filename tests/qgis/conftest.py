"""QGIS fixtures: processing initialised with the fusionpv provider, and feedback that records messages."""
import pytest
from qgis.core import QgsProcessingFeedback


@pytest.fixture(scope="session")
def fusionpv(qgis_processing):
    """The plugin with its provider registered, as QGIS does at start-up."""
    from fusion_pv_mapping.plugin import FusionPvMappingPlugin
    plugin = FusionPvMappingPlugin(None)
    plugin.initProcessing()
    yield plugin
    plugin.unload()


class RecordingFeedback(QgsProcessingFeedback):
    """Feedback that keeps errors, warnings and info so tests can check what the user is told."""

    def __init__(self):
        super().__init__()
        self.errors, self.warnings, self.infos, self.progress = [], [], [], []
        self.progressChanged.connect(self.progress.append)

    def reportError(self, error, fatalError=False):  # noqa: N802,N803 (QGIS API name)
        self.errors.append(error)

    def pushWarning(self, warning):  # noqa: N802 (QGIS API name)
        self.warnings.append(warning)

    def pushInfo(self, info):  # noqa: N802 (QGIS API name)
        self.infos.append(info)


@pytest.fixture
def feedback():
    return RecordingFeedback()

