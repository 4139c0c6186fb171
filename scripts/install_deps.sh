#!/usr/bin/env bash
# Installs what the plugin's demo and tests need on Debian 12 / Ubuntu, only where it is missing.
set -euo pipefail

APT_PACKAGES="qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-numpy python3-scipy python3-skimage
python3-opencv python3-matplotlib python3-pytest python3-pytest-xdist python3-pip python3-venv nginx-light debootstrap"
SYSTEM_PYTHON=/usr/bin/python3

missing=""
for package in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
    echo "Installing Debian packages:$missing"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
fi

# pytest-qgis (QGIS fixtures for pytest; the version the Makefile names) into QGIS's interpreter, without letting
# pip touch numpy there.
PYTEST_QGIS=${PYTEST_QGIS:-$(sed -n 's/^PYTEST_QGIS := //p' "$(dirname "$0")/../Makefile")}
installed=$("$SYSTEM_PYTHON" -c "from importlib.metadata import version as v; print(v('pytest-qgis'))" 2>/dev/null \
    || true)
if [ "$installed" != "$PYTEST_QGIS" ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd "$SYSTEM_PYTHON" -m pip install -q --no-deps --break-system-packages "pytest-qgis==$PYTEST_QGIS" \
        2>/dev/null || $sudo_cmd "$SYSTEM_PYTHON" -m pip install -q --no-deps "pytest-qgis==$PYTEST_QGIS"
fi

# rustac (a STAC API server from PyPI, for the tests of reading from STAC catalogues) into its own venv: it has no
# Python dependencies and never touches QGIS's interpreter.
STAC_VENV=$(dirname "$0")/../.venv-stac
if [ ! -x "$STAC_VENV/bin/rustac" ]; then
    "$SYSTEM_PYTHON" -m venv "$STAC_VENV"
    "$STAC_VENV/bin/python" -m pip install -q "rustac==$(sed -n 's/^RUSTAC := //p' "$(dirname "$0")/../Makefile")"
fi
