"""The hostile cases that the command line shows (``hostile_cases.command_line_cases``; processing.run runs them
all) through the ``qgis_process`` command: no traceback, no hang, a non-zero exit with a message naming the
parameter, or exit 0 with every output written; inputs byte-identical, no partial file left."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from qgisprocess import QgisProcess, qgis_process_command  # noqa: E402
from hostile_cases import build_workspace, command_line_cases, copy_workspace, leftovers, snapshot  # noqa: E402

pytestmark = pytest.mark.skipif(qgis_process_command() is None, reason="qgis_process is not installed")
#: Seconds a hostile run may take before it counts as a hang.
HANG_SECONDS = 120


@pytest.fixture(scope="module")
def qgis(tmp_path_factory):
    return QgisProcess(home=str(tmp_path_factory.mktemp("qgis")))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_workspace(str(tmp_path_factory.mktemp("hostile") / "template"))


def command_line(parameters):
    """qgis_process arguments: a list repeats the parameter; the values are given as they are."""
    return {name: value if isinstance(value, list) else str(value) for name, value in parameters.items()}


COMMAND_LINE_CASES = command_line_cases()


@pytest.mark.parametrize("case", COMMAND_LINE_CASES, ids=[case.name for case in COMMAND_LINE_CASES])
def test_hostile_input(qgis, tmp_path, template, case):
    workspace = str(tmp_path / "ws")
    copy_workspace(template, workspace)
    os.makedirs(os.path.join(workspace, "out"))
    before = snapshot(workspace)
    arguments = []
    for name, value in command_line(case.resolved(workspace)).items():
        for item in value if isinstance(value, list) else [value]:
            arguments.append("%s=%s" % (name, item))
    completed = qgis.run("run", "fusionpv:" + case.algorithm, "--", *arguments, timeout=HANG_SECONDS)
    said = completed.stdout + completed.stderr
    assert "Traceback" not in said, said
    if case.error:
        assert completed.returncode != 0, said
        assert case.error in said, said
    else:
        assert completed.returncode == 0, said
        for output in case.outputs:
            assert os.path.exists(output.replace("{ws}", workspace)), output
        if case.warning:
            assert case.warning in said, said
    for path in case.absent:
        assert not os.path.exists(path.replace("{ws}", workspace)), path
    after = snapshot(workspace)
    assert {name: digest for name, digest in after.items() if name in before} == before
    assert not leftovers(workspace)
