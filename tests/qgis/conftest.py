"""QGIS fixtures: processing initialised with the fusionpv provider, feedback that records messages, and a real
standalone Dask scheduler and worker."""
import gc
import os
import subprocess
import sys
import time

import pytest
from qgis.core import QgsProcessingFeedback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "scripts"))
import local_servers  # noqa: E402


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


free_port = local_servers.free_port


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


def started_servers(server_class):
    """Yield a function that starts ``server_class(*arguments)``; every server it started is stopped afterwards."""
    servers = []

    def start(*arguments):
        servers.append(server_class(*arguments))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def nginx_server():
    """Start nginx on a folder: ``nginx_server(root, folder)``."""
    if not os.path.exists(local_servers.NGINX):
        pytest.skip("nginx is not installed (make test installs it: apt-get install nginx-light)")
    yield from started_servers(local_servers.Nginx)


@pytest.fixture(scope="module")
def stac_server():
    """Start a STAC API on an ItemCollection file: ``stac_server(items_path, folder)``."""
    if not local_servers.rustac_command():
        pytest.skip("rustac is not installed (make test installs it into .venv-stac)")
    yield from started_servers(local_servers.StacServer)
