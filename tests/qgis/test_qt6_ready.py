"""QGIS 4 / Qt6 readiness: no PyQt5-only construct in the plugin, every enum reached through its enum type.

The rules follow what QGIS's ``pyqt5_to_pyqt6`` migration script rewrites. Enum names are resolved on the QGIS
that runs the suite, so on every tested version (3.22, 3.40, the newest packaged) the scoped names must exist.
"""
import ast
import enum
import importlib
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QT_MODULE_PREFIXES = ("qgis.core", "qgis.gui", "qgis.analysis", "qgis.PyQt")
#: Qt5 classes that Qt6 removed or moved out of the modules QGIS exposes.
QT5_ONLY_NAMES = {"QRegExp", "QRegExpValidator", "QDesktopWidget", "QGLWidget", "QMatrix", "QStringRef",
                  "QTextCodec", "QSound"}
#: Methods PyQt6 renamed or dropped.
QT5_ONLY_METHODS = {"exec_", "print_", "toTime_t", "setTime_t"}


def plugin_sources():
    """Every Python file of the checkout that git knows (tracked, or untracked and not ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        names = listed.stdout.split()
    else:  # not a git checkout (an installed plugin): every Python file below the root
        names = [os.path.relpath(os.path.join(folder, name), ROOT) for folder, _, files in os.walk(ROOT)
                 for name in files if name.endswith(".py") and "/." not in folder]
    return sorted(name for name in names if os.path.isfile(os.path.join(ROOT, name)))


def parsed(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as source:
        return ast.parse(source.read(), filename=name)


def qt_imports(tree):
    """{local name: (module, imported name)} of the names a file imports from QGIS or qgis.PyQt."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(QT_MODULE_PREFIXES):
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def attribute_chains(tree):
    """(line, [name, attribute, …]) of every maximal dotted chain that starts at a plain name."""
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain, value = [], node
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name):
                yield node.lineno, [value.id] + chain


def is_enum_type(value):
    return isinstance(value, type) and (issubclass(value, enum.Enum) or type(value).__name__ == "enumtype")


def is_enum_member(value):
    return isinstance(value, enum.Enum) or type(type(value)).__name__ == "enumtype"


def unscoped_enum_uses(name):
    """Problems of one file: enum members reached without their enum type, and dotted names this QGIS lacks."""
    tree = parsed(name)
    imports = qt_imports(tree)
    problems = []
    for line, chain in attribute_chains(tree):
        if chain[0] not in imports:
            continue
        module, imported = imports[chain[0]]
        value = getattr(importlib.import_module(module), imported)
        for position, attribute in enumerate(chain[1:], start=1):
            where = "%s:%d %s" % (name, line, ".".join(chain[:position + 1]))
            if not attribute[:1].isupper():
                break  # a method or a property: what it returns is not checked
            if not hasattr(value, attribute):
                problems.append(where + " does not exist on this QGIS")
                break
            owner, value = value, getattr(value, attribute)
            if is_enum_member(value) and not is_enum_type(owner):
                problems.append(where + " is an enum member reached without its enum type (Qt6 scoped enums)")
                break
    return problems


def pyqt5_only_constructs(name):
    """PyQt5-only imports, classes and methods, and QVariant types, in one file."""
    tree = parsed(name)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            if node.module == "qgis.PyQt.QtWidgets" and any(alias.name == "QAction" for alias in node.names):
                problems.append("%s:%d QAction from QtWidgets (Qt6: QtGui)" % (name, node.lineno))
            problems += ["%s:%d %s is gone in Qt6" % (name, node.lineno, alias.name) for alias in node.names
                         if alias.name in QT5_ONLY_NAMES]
        else:
            modules = []
        for module in modules:
            if module.split(".")[0] in ("PyQt5", "PyQt6", "sip"):
                problems.append("%s:%d imports %s directly (use qgis.PyQt)" % (name, node.lineno, module))
        if isinstance(node, ast.Name) and node.id in QT5_ONLY_NAMES:
            problems.append("%s:%d %s is gone in Qt6" % (name, node.lineno, node.id))
        if isinstance(node, ast.Attribute) and node.attr in QT5_ONLY_METHODS:
            problems.append("%s:%d .%s is PyQt5 only" % (name, node.lineno, node.attr))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "QVariant":
            problems.append("%s:%d QVariant.%s: field types are QMetaType.Type in QGIS 4" % (
                name, node.lineno, node.attr))
    return problems


def test_the_plugin_has_no_pyqt5_only_construct():
    sources = plugin_sources()
    assert "gisio/tables.py" in sources and "algorithms/base.py" in sources
    problems = [problem for name in sources for problem in pyqt5_only_constructs(name)]
    assert not problems, "\n".join(problems)


def test_every_enum_is_scoped_and_exists_on_this_qgis(qgis_app):
    problems = [problem for name in plugin_sources() for problem in unscoped_enum_uses(name)]
    assert not problems, "\n".join(problems)


def test_metadata_declares_qt6_support():
    with open(os.path.join(ROOT, "metadata.txt"), encoding="utf-8") as metadata:
        lines = [line.strip() for line in metadata]
    assert "supportsQt6=True" in lines


@pytest.mark.parametrize("source, problem", [
    ("from qgis.PyQt.QtCore import QVariant\nx = QVariant.Int\n", "QVariant.Int"),
    ("from PyQt5.QtCore import Qt\n", "imports PyQt5.QtCore"),
    ("dialog.exec_()\n", ".exec_ is PyQt5 only"),
    ("from qgis.PyQt.QtWidgets import QAction\n", "QAction from QtWidgets"),
    ("from qgis.PyQt.QtCore import QRegExp\n", "QRegExp is gone"),
])
def test_the_check_finds_pyqt5_constructs(tmp_path, monkeypatch, source, problem):
    (tmp_path / "sample.py").write_text(source)
    monkeypatch.setitem(globals(), "ROOT", str(tmp_path))
    assert any(problem in found for found in pyqt5_only_constructs("sample.py"))


@pytest.mark.parametrize("source, problem", [
    ("from qgis.core import QgsFeatureSink\nflag = QgsFeatureSink.FastInsert\n", "without its enum type"),
    ("from qgis.PyQt.QtCore import Qt\nalign = Qt.AlignLeft\n", "without its enum type"),
    ("from qgis.core import QgsFeatureSink\nflag = QgsFeatureSink.Flag.NoSuchFlag\n", "does not exist"),
])
def test_the_check_finds_unscoped_enums(qgis_app, tmp_path, monkeypatch, source, problem):
    (tmp_path / "sample.py").write_text(source)
    monkeypatch.setitem(globals(), "ROOT", str(tmp_path))
    assert any(problem in found for found in unscoped_enum_uses("sample.py"))
    scoped = source.replace("QgsFeatureSink.FastInsert", "QgsFeatureSink.Flag.FastInsert").replace(
        "Qt.AlignLeft", "Qt.AlignmentFlag.AlignLeft")
    if scoped != source:
        (tmp_path / "sample.py").write_text(scoped)
        assert not unscoped_enum_uses("sample.py")
