"""The plugin zip installs the way QGIS's "Install from ZIP" does (unzipped into the plugin folder) and works."""
import os
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from package import build  # noqa: E402
from qgisprocess import QgisProcess, qgis_process_command  # noqa: E402


def test_zip_holds_one_plugin_folder_with_runtime_files_only(tmp_path):
    names = zipfile.ZipFile(build(str(tmp_path / "plugin.zip"))).namelist()
    assert {name.split("/")[0] for name in names} == {"fusion_pv_mapping"}
    for required in ("metadata.txt", "__init__.py", "plugin.py", "LICENSE", "algorithms/provider.py",
                     "core/paper.py", "resources/pv_plants.qml", "resources/icon.svg"):
        assert "fusion_pv_mapping/" + required in names
    assert not [name for name in names if "/tests/" in name or "__pycache__" in name or "/scripts/" in name]


def test_the_zip_passes_the_plugin_repository_checks(tmp_path):
    """What plugins.qgis.org asks of an upload: the metadata fields it requires, a licence file, and no compiled
    Python, hidden files or folders, or files outside the plugin's folder."""
    import configparser
    archive = zipfile.ZipFile(build(str(tmp_path / "plugin.zip")))
    names = archive.namelist()
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read_string(archive.read("fusion_pv_mapping/metadata.txt").decode("utf-8"))
    general = metadata["general"]
    for key in ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "repository",
                "tracker", "homepage"):
        assert general.get(key, "").strip(), key
    for key in ("repository", "tracker", "homepage"):
        assert general[key].startswith("https://"), key
    assert "fusion_pv_mapping/LICENSE" in names
    parts = [part for name in names for part in name.split("/")]
    assert not [part for part in parts if part.startswith(".") or part in ("__pycache__", "__MACOSX")]
    assert not [name for name in names if name.endswith((".pyc", ".pyo", ".so", ".exe", ".dll"))]
    assert all(name.startswith("fusion_pv_mapping/") for name in names)


def test_the_packaged_readme_finds_every_picture_it_shows(tmp_path):
    """The Help button opens the packaged README: each image it embeds from the plugin folder is in the zip."""
    import re
    names = set(zipfile.ZipFile(build(str(tmp_path / "plugin.zip"))).namelist())
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as readme:
        pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme.read())
    local = [picture for picture in pictures if "://" not in picture]
    assert local, "the README shows no picture"
    assert [picture for picture in local if "fusion_pv_mapping/" + picture not in names] == []


@pytest.mark.skipif(qgis_process_command() is None, reason="qgis_process is not installed")
def test_unzipped_plugin_loads_in_qgis_process(tmp_path):
    zipfile.ZipFile(build(str(tmp_path / "plugin.zip"))).extractall(tmp_path / "installed")
    qgis = QgisProcess(plugin_root=str(tmp_path / "installed" / "fusion_pv_mapping"), home=str(tmp_path / "qgis"))
    listing = qgis.run("list").stdout
    assert "fusionpv:andpi" in listing and "fusionpv:extractpvplants" in listing
