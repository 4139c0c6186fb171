"""QGIS fixtures: processing initialised with the fusionpv provider, feedback that records messages, and a real
standalone Dask scheduler and worker."""
import gc
import os
import socket
import subprocess
import sys
import time

import pytest
from qgis.core import QgsProcessingFeedback


@pytest.fixture(scope="session")
def layer_tree_view(qgis_iface):
    """A real layer tree view of the project behind pytest-qgis's interface: Processing loads results through it
    (from QGIS 3.40 on; 3.44 hands it to C++, where pytest-qgis's stand-in would not do)."""
    from qgis.core import QgsLayerTreeModel, QgsProject
    from qgis.gui import QgsLayerTreeView
    view = QgsLayerTreeView()
    model = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot(), view)
    view.setModel(model)
    qgis_iface.layerTreeView = lambda: view
    yield view


@pytest.fixture(scope="session")
def fusionpv(qgis_processing, layer_tree_view):
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



@pytest.fixture(autouse=True)
def collect_garbage_after_each_test():
    """Free what a test left in reference cycles (a processing context held by an exception's traceback, with the
    layers it opened) while QGIS still runs: collected after pytest-qgis has closed QGIS, on QGIS 3.44 the layers'
    GDAL datasets crash the interpreter as they close."""
    yield
    gc.collect()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def standalone_dask(tmp_path):
    """A real `dask scheduler` and one `dask worker` process on 127.0.0.1, started as the README tells users (the
    `dask` command of this Python), from a folder where the plugin cannot be imported; stopped afterwards."""
    distributed = pytest.importorskip("distributed")
    command = os.path.join(os.path.dirname(sys.executable), "dask")
    if not os.path.exists(command):
        pytest.skip("no dask command beside %s" % sys.executable)
    address = "tcp://127.0.0.1:%d" % free_port()
    folder = tmp_path / "cluster"
    folder.mkdir()
    options = dict(cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"})
    processes = [subprocess.Popen([command, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                   "--no-dashboard"], **options)]
    processes.append(subprocess.Popen([command, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard"], **options))
    try:
        deadline = time.time() + 60
        while True:
            try:
                with distributed.Client(address, timeout=5) as client:
                    if client.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            assert time.time() < deadline, "the standalone Dask cluster did not start"
            time.sleep(0.5)
        yield address
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
