"""``make package``: ``dist/fusion_pv_mapping.zip`` for QGIS's Plugins > Manage and Install Plugins > Install from ZIP.

The archive holds one folder, ``fusion_pv_mapping/``, with what the plugin needs at run time (no tests, demo or
benchmarks), its licence included, and nothing the QGIS plugin repository refuses: no compiled Python, no hidden
files or folders.
"""
import os
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = "fusion_pv_mapping"
CONTENT = ("metadata.txt", "__init__.py", "plugin.py", "LICENSE", "README.md", "algorithms", "core", "gisio", "resources")


def plugin_files():
    """Paths (relative to the repository) of the files that go into the plugin."""
    for entry in CONTENT:
        path = os.path.join(ROOT, entry)
        if os.path.isfile(path):
            yield entry
            continue
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if not name.endswith((".pyc", ".pyo", ".aux.xml")) and not name.startswith("."):
                    yield os.path.relpath(os.path.join(folder, name), ROOT)


def build(target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files():
            archive.write(os.path.join(ROOT, relative), os.path.join(PLUGIN, relative))
    return target


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist", PLUGIN + ".zip")))
