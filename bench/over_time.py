"""Plants over time on real series, against the truth read from their images.

Usage: ``python3 bench/over_time.py DATA_DIR [--role trusted|candidate] [--period 0|1|2]`` with DATA_DIR the shared
``data/austria_pv`` folder. For every chip, its reference outline grown by one pixel is the prior; the chip's
netCDF series goes through the core of ``fusionpv:plantsovertime`` (``core.over_time``) with PERIOD = Quarter by
default. Prints one row per chip: truth (``TRUTH``, decided from the quarterly images before any run, see
bench/README.md), raw decisions, settled presence, first period seen, status, and whether it agrees with the truth.

``python3 bench/over_time.py --flanders FARMLAND_DIR [--period 0|1|2]`` with FARMLAND_DIR the shared
``data/farmland_flanders`` folder: a real series of farmland with no PV (2017-08 to 2018-11). Candidate priors,
each run alone: every parcel of the parcel register of at least :data:`MIN_PARCEL_PIXELS` pixels, eroded by one
pixel, and :data:`RECTANGLES` plant-sized rectangles placed at random (seed :data:`SEED`). The truth of every prior
is "never PV": any presence is a false one. Prints one row per prior and the count of priors ever present.
"""
import argparse
import datetime
import glob
import os
import sys

import numpy as np
from osgeo import gdal
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from farmland_priors import farmland_priors  # noqa: E402
from fusion_pv_mapping.core.bands import ROLE_BANDS  # noqa: E402
from fusion_pv_mapping.core.over_time import ArraySeries, plants_over_time  # noqa: E402
from fusion_pv_mapping.core.over_time import evidence_text  # noqa: E402
from fusion_pv_mapping.core.periods import PERIOD_QUARTER, period_of_dates, periods_covering  # noqa: E402

#: Truth per chip, read from its quarterly and monthly clear-sky images of 2022 (bench/README.md): the status, and
#: for the plants built in 2022 the days between which their construction shows (first rows to dark panels).
BUILT_CHIPS = {"2004": ("built", (datetime.date(2022, 6, 1), datetime.date(2022, 9, 30))),
               "2011": ("built", (datetime.date(2022, 8, 1), datetime.date(2022, 9, 30)))}
NEVER_CHIPS = {"1913": ("not seen", None), "1933": ("not seen", None)}


def truth(chip):
    """(status, days of visible construction or None) of a chip: built ones, never-PV ones, else PV all year."""
    return BUILT_CHIPS.get(chip) or NEVER_CHIPS.get(chip) or ("present from start", None)


def agrees(history, status, construction):
    """Is a history right: its status, and for a built plant an interval that meets the visible construction?"""
    if history.status != status:
        return False
    return construction is None or (history.built_after <= construction[1] and history.built_before >= construction[0])


def interval(history):
    """The dates of a plant's changes: ``built after – before``, ``removed after – before`` (``…`` = not yet
    confirmed)."""
    parts = []
    for name, after, before in (("built", history.built_after, history.built_before),
                                ("removed", history.removed_after, history.removed_before)):
        if after or before:
            parts.append("%s %s – %s" % (name, after or "start", before or "…"))
    return "; ".join(parts)


def row(*cells):
    print("| " + " | ".join(str(cell) for cell in cells) + " |")


def read_series(path):
    """ArraySeries of an openEO netCDF chip (clear: SCL 4, 5, 6 and not the fill value) and its dates."""
    dn = {}
    for role, band in ROLE_BANDS.items():
        dataset = gdal.Open('NETCDF:"%s":%s' % (path, band))
        dn[role] = dataset.ReadAsArray()
    days = [float(dataset.GetRasterBand(i + 1).GetMetadataItem("NETCDF_DIM_t")) for i in range(dataset.RasterCount)]
    dates = [datetime.date(1990, 1, 1) + datetime.timedelta(days=day) for day in days]
    scl = gdal.Open('NETCDF:"%s":SCL' % path).ReadAsArray()
    clear = np.isin(scl, (4, 5, 6)) & np.all([band != 32767 for band in dn.values()], axis=0)
    return ArraySeries(dn, dates, clear), dates


def farmland(folder, period):
    """The farmland patch: every prior alone as a candidate; prints a row per prior; returns how many were ever
    present (each is a false presence)."""
    (path,) = glob.glob(os.path.join(folder, "S2_flanders_*.nc"))
    (labels_path,) = glob.glob(os.path.join(folder, "crop_type_*.tif"))
    series, dates = read_series(path)
    labels = gdal.Open(labels_path).ReadAsArray()
    periods = periods_covering(min(dates), max(dates), period)
    index = period_of_dates(dates, periods)
    row("prior", "truth", "raw", "evidence", "presence", "status", "interval")
    row(*["---"] * 7)
    present = 0
    priors = farmland_priors(labels)
    for name, prior in priors:
        for history in plants_over_time(series, candidate=prior, periods=periods, period_index=index):
            seen = history.first is not None
            present += seen
            row(name, "never PV", "".join(history.raw), evidence_text(history.period_evidence), history.presence,
                history.status, interval(history))
    print("\n%d of %d farmland priors were ever present (every presence is false), %s." % (
        present, len(priors), "years" if period == 0 else "quarters" if period == 1 else "months"))
    return present


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?")
    parser.add_argument("--role", choices=("trusted", "candidate"), default="trusted")
    parser.add_argument("--period", type=int, default=PERIOD_QUARTER)
    parser.add_argument("--flanders", help="the shared data/farmland_flanders folder")
    args = parser.parse_args()
    if args.flanders:
        farmland(args.flanders, args.period)
        return
    row("chip", "truth", "raw", "evidence", "presence", "first seen", "status", "interval", "agrees")
    row(*["---"] * 9)
    agree = 0
    paths = sorted(glob.glob(os.path.join(args.data, "netcdf", "S2_2022_*.nc")),
                   key=lambda p: int(os.path.basename(p)[8:-3]))
    for path in paths:
        chip = os.path.basename(path)[8:-3]
        series, dates = read_series(path)
        reference = gdal.Open(os.path.join(args.data, "geotiff", "pv_mask_%s.tif" % chip)).ReadAsArray() > 0
        prior = ndimage.binary_dilation(reference, np.ones((3, 3), bool))
        periods = periods_covering(datetime.date(2022, 1, 1), datetime.date(2022, 12, 31), args.period)
        histories = plants_over_time(series, periods=periods, period_index=period_of_dates(dates, periods),
                                     **{args.role: prior})
        status, construction = truth(chip)
        for history in histories:
            first = periods[history.first].label if history.first is not None else None
            ok = agrees(history, status, construction)
            agree += ok
            truth_text = status + (" (shows %s – %s)" % construction if construction else "")
            row(chip, truth_text, "".join(history.raw), evidence_text(history.period_evidence), history.presence,
                first or "", history.status, interval(history), "yes" if ok else "no")
    print("\n%d of %d prior components agree with the truth (%s priors grown by 1 px)." % (agree, len(paths),
                                                                                          args.role))


if __name__ == "__main__":
    main()
