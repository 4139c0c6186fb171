"""The README's path from free imagery, run on this machine: search → plants over time → material flows.

Usage: ``python3 bench/stac_chips.py [--work DIR]``. The real 2022 series of the 28 Austrian chips is published
as a STAC catalogue (``tests/data/stac_catalogue.py``: one COG per band and date, Earth Search's and Planetary
Computer's conventions), its COGs served by nginx and its items by `rustac serve` on 127.0.0.1. Then, through
``qgis_process``: ``fusionpv:searchimagery`` over Austria for 2022 (``sentinel-2-l2a``, MAX_CLOUD 80),
``fusionpv:plantsovertime`` by quarter on what it found with the country-wide OSM layer as trusted priors, and
``fusionpv:materialflows`` from ``first_seen_year``. Prints the timings and the lines of the log that give the
numbers of the README (items, dates, offsets, bytes, statuses, tonnes)."""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from local_servers import Nginx, StacServer  # noqa: E402
from qgisprocess import QgisProcess  # noqa: E402
from region_scene import COUNTRY_PRIORS  # noqa: E402
from stac_catalogue import build_catalogue  # noqa: E402

AUSTRIA = "9.5,17.2,46.3,49.1 [EPSG:4326]"
NUMBERS = re.compile(r"item\(s\)|Fetched|date\(s\) in|component\(s\)|TOTAL_\w+ =")


def timed_run(qgis, algorithm, **parameters):
    started = time.monotonic()
    completed = qgis.run("run", algorithm, "--", *("%s=%s" % pair for pair in parameters.items()))
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        sys.exit("%s failed:\n%s" % (algorithm, (completed.stdout + completed.stderr)[-3000:]))
    print("%s: %.1f s" % (algorithm, seconds))
    for line in (completed.stdout + completed.stderr).splitlines():
        if NUMBERS.search(line) and not line.startswith("Warning"):
            print("   ", line.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", help="folder for the catalogue and outputs (default: a temporary one)")
    work = parser.parse_args().work or tempfile.mkdtemp(prefix="fusionpv-stac-chips-")
    catalogue = os.path.join(work, "catalogue")
    shutil.rmtree(catalogue, ignore_errors=True)
    os.makedirs(catalogue)
    files = Nginx(catalogue, os.path.join(work, "nginx"))
    api = None
    try:
        build_catalogue(catalogue, base_url=files.url)
        api = StacServer(os.path.join(catalogue, "items.json"), work)
        qgis = QgisProcess()
        found, plants = os.path.join(work, "found.json"), os.path.join(work, "plants_over_time.gpkg")
        shutil.rmtree(plants[:-len(".gpkg")] + ".tiles", ignore_errors=True)  # a kept results folder is reused
        if os.path.exists(plants):
            os.remove(plants)
        timed_run(qgis, "fusionpv:searchimagery", STAC_API=api.url, COLLECTION="sentinel-2-l2a", EXTENT=AUSTRIA,
                  START_DATE="2022-01-01", END_DATE="2022-12-31", MAX_CLOUD=80, OUTPUT=found,
                  OUTPUT_FOOTPRINTS=os.path.join(work, "footprints.gpkg"))
        before = files.served()
        timed_run(qgis, "fusionpv:plantsovertime", INPUT=found, PERIOD=1, TRUSTED_PRIORS=COUNTRY_PRIORS,
                  OUTPUT=plants)
        print("    nginx: %d request(s), %.2f MB sent" % tuple(
            value / (1e6 if index else 1) for index, value in enumerate(
                after - first for after, first in zip(files.served(), before))))
        timed_run(qgis, "fusionpv:materialflows", INPUT=plants, YEAR_FIELD="first_seen_year",
                  OUTPUT=os.path.join(work, "flows.csv"))
    finally:
        files.stop()
        if api:
            api.stop()


if __name__ == "__main__":
    main()
