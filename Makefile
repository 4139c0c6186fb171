# Fusion PV Mapping: `make demo` and `make test` set up everything they need on Debian 12 / Ubuntu.
SYSTEM_PYTHON := /usr/bin/python3
LATEST_VENV := .venv-latest
PYTEST_QGIS := 5.0.2
ENGINES_VENV := .venv-qgis-engines
## rustac: the STAC API server the STAC tests start (scripts/local_servers.py), in .venv-stac.
RUSTAC := 0.9.18
PYTEST := $(SYSTEM_PYTHON) -m pytest -q -p no:cacheprovider
## pytest-xdist: the QGIS and qgis_process suites on every core, one QGIS per worker process.
JOBS ?= $(shell nproc)
PARALLEL := -n $(JOBS)
export QT_QPA_PLATFORM := offscreen

.PHONY: all deps demo check test test-host test-core test-core-latest test-qgis test-qgis-engines test-qgis-process \
	test-qgis-3.40 test-qgis-newest rootfs-trixie rootfs-sid test-in-rootfs package screenshots clean

all: test

deps:
	@scripts/install_deps.sh

demo: deps
	$(SYSTEM_PYTHON) scripts/demo.py

## The everyday loop (about a minute on 2 cores): the core and the algorithm suite on this machine's QGIS.
check: deps
	$(MAKE) --no-print-directory test-core test-qgis

## Everything: core tests with QGIS's numpy/scipy (OpenCV and scipy back-ends), then with the newest numpy/scipy
## from PyPI; algorithms through processing.run (pytest-qgis); end to end through qgis_process. Then the same suites
## on QGIS 3.40 LTR (Debian 13) and on the newest packaged QGIS (Debian unstable). The root file systems are built
## or refreshed while this machine's suites run (mostly downloads and unpacking), their suites run after.
test: deps
	$(MAKE) --no-print-directory -j3 --output-sync=target test-host rootfs-trixie rootfs-sid
	$(MAKE) --no-print-directory test-qgis-3.40 test-qgis-newest

test-host:
	$(MAKE) --no-print-directory -j1 test-core test-core-latest test-qgis test-qgis-engines test-qgis-process

test-core:
	$(PYTEST) -p no:qgis tests/core

test-core-latest:
	@[ -x $(LATEST_VENV)/bin/python ] || python3 -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade numpy scipy opencv-python-headless onnxruntime pytest
	$(LATEST_VENV)/bin/python -c "import numpy, scipy; print('numpy', numpy.__version__, 'scipy', scipy.__version__)"
	$(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/core

test-qgis:
	rm -rf .qgis-settings  # pytest-qgis keeps the QGIS profile of its runs there
	$(PYTEST) $(PARALLEL) tests/qgis

## QGIS's own packages (system site packages) plus the optional engines, ONNX Runtime and dask.distributed, with
## numpy held at QGIS's version: the runmodel tests, and mapregion and plantsovertime on Dask clusters.
test-qgis-engines:
	@[ -x $(ENGINES_VENV)/bin/python ] || $(SYSTEM_PYTHON) -m venv --system-site-packages $(ENGINES_VENV)
	$(SYSTEM_PYTHON) -c "import numpy; print('numpy==' + numpy.__version__)" > $(ENGINES_VENV)/constraints.txt
	$(ENGINES_VENV)/bin/python -m pip install -q -c $(ENGINES_VENV)/constraints.txt onnxruntime "dask[distributed]"
	rm -rf .qgis-settings; $(ENGINES_VENV)/bin/python -m pytest -q -p no:cacheprovider $(PARALLEL) \
		tests/qgis/test_run_model_algorithm.py tests/qgis/test_map_region_algorithm.py tests/qgis/test_plants_over_time_region.py

test-qgis-process:
	$(PYTEST) $(PARALLEL) -p no:qgis tests/qgis_process

## QGIS 3.40 LTR and the newest packaged QGIS, each in a Debian root file system built once with debootstrap
## (as root; cached in /var/cache/fusion-pv-mapping, FUSIONPV_ROOTFS_CACHE to change).
test-qgis-3.40:
	scripts/qgis_rootfs.sh trixie make test-in-rootfs

test-qgis-newest:
	scripts/qgis_rootfs.sh sid make test-in-rootfs

## Build (once) or refresh a root file system without running anything in it.
rootfs-trixie rootfs-sid: rootfs-%:
	scripts/qgis_rootfs.sh $* true

## What runs inside such a root file system: the core, QGIS and qgis_process suites with its own QGIS.
test-in-rootfs:
	$(SYSTEM_PYTHON) -c "import sys, numpy; from qgis.core import Qgis; \
		print('QGIS', Qgis.version(), 'Python', sys.version.split()[0], 'numpy', numpy.__version__)"
	$(PYTEST) -p no:qgis tests/core
	rm -rf .qgis-settings  # pytest-qgis keeps the QGIS profile of its runs there
	$(PYTEST) $(PARALLEL) tests/qgis
	$(PYTEST) $(PARALLEL) -p no:qgis tests/qgis_process

package:
	$(SYSTEM_PYTHON) scripts/package.py

## The real QGIS desktop under Xvfb: every dialog and the styled outputs, as PNG in screenshots/ (look at them).
screenshots: deps
	@command -v Xvfb >/dev/null || apt-get install -y -qq xvfb
	mkdir -p screenshots/profile/plugins && ln -sfn $(CURDIR) screenshots/profile/plugins/fusion_pv_mapping
	rm -f screenshots/log.txt
	Xvfb :97 -screen 0 1400x900x24 & XVFB=$$!; sleep 2; \
	DISPLAY=:97 QT_QPA_PLATFORM=xcb FUSIONPV_ROOT=$(CURDIR) SHOTS_DIR=$(CURDIR)/screenshots QGIS_CUSTOM_CONFIG_PATH=$(CURDIR)/screenshots/profile \
	QGIS_PLUGINPATH=$(CURDIR)/screenshots/profile/plugins timeout 300 qgis --noversioncheck --nologo \
	--code scripts/desktop_screenshots.py; kill $$XVFB; cat screenshots/log.txt

clean:
	rm -rf demo_output dist screenshots $(LATEST_VENV) $(ENGINES_VENV) .venv-stac
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
