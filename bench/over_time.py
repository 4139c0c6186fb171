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
import conftest  # noqa: E402,F401  (makes the repository importable as fusion_pv_mapping)
from fusion_pv_mapping.core.bands import ROLE_BANDS  # noqa: E402
from fusion_pv_mapping.core.over_time import ArraySeries, plants_over_time  # noqa: E402
from fusion_pv_mapping.core.periods import (PERIOD_MONTHS, PERIOD_QUARTER, period_of_dates,  # noqa: E402
                                            periods_covering)

#: Truth per chip, read from its quarterly (and, where unclear, monthly) clear-sky images of 2022: the status, and
#: the quarters in which the first presence is right ("" = any; None = never seen).
BUILT_CHIPS = {"2004": ("built", ("2022-Q3", "2022-Q4")), "2011": ("built", ("2022-Q3", "2022-Q4"))}
NEVER_CHIPS = {"1913": ("not seen", None), "1933": ("not seen", None)}


def truth(chip):
    """(status, acceptable first periods) of a chip: built ones, never-PV ones, else PV all year."""
    return BUILT_CHIPS.get(chip) or NEVER_CHIPS.get(chip) or ("present from start", ("", ))


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


#: Parcels of at least this many pixels are priors on the farmland patch (before the 1 px erosion).
MIN_PARCEL_PIXELS = 60
#: Plant-sized rectangles on the farmland patch: how many, their sides (pixels, from–to) and the random seed.
RECTANGLES, RECTANGLE_SIDES, SEED = 6, (5, 12), 2026


def farmland_priors(labels):
    """[(name, bool prior)] on the parcel raster ``labels`` (0 = not a parcel): each parcel of at least
    :data:`MIN_PARCEL_PIXELS` pixels eroded by 1 px, then :data:`RECTANGLES` rectangles placed at random."""
    priors = []
    parcels, count = ndimage.label(labels > 0)
    for number in range(1, count + 1):
        parcel = parcels == number
        if parcel.sum() >= MIN_PARCEL_PIXELS:
            eroded = ndimage.binary_erosion(parcel, np.ones((3, 3), bool))
            rows, cols = np.nonzero(parcel)
            priors.append(("parcel %d (crop %d, %d px, rows %d-%d, cols %d-%d)" % (
                number, np.bincount(labels[parcel]).argmax(), eroded.sum(), rows.min(), rows.max(), cols.min(),
                cols.max()), eroded))
    rng = np.random.default_rng(SEED)
    for number in range(1, RECTANGLES + 1):
        height, width = rng.integers(RECTANGLE_SIDES[0], RECTANGLE_SIDES[1] + 1, size=2)
        top = int(rng.integers(0, labels.shape[0] - height + 1))
        left = int(rng.integers(0, labels.shape[1] - width + 1))
        prior = np.zeros(labels.shape, bool)
        prior[top:top + height, left:left + width] = True
        priors.append(("rectangle %d (rows %d-%d, cols %d-%d)" % (number, top, top + height - 1, left,
                                                                  left + width - 1), prior))
    return priors


def farmland(folder, period):
    """The farmland patch: every prior alone as a candidate; prints a row per prior; returns how many were ever
    present (each is a false presence)."""
    (path,) = glob.glob(os.path.join(folder, "S2_flanders_*.nc"))
    (labels_path,) = glob.glob(os.path.join(folder, "crop_type_*.tif"))
    series, dates = read_series(path)
    labels = gdal.Open(labels_path).ReadAsArray()
    periods = periods_covering(min(dates), max(dates), period)
    index = period_of_dates(dates, periods)
    print("| prior | truth | raw | presence | first seen | last seen | status |")
    print("|---|---|---|---|---|---|---|")
    present = 0
    priors = farmland_priors(labels)
    for name, prior in priors:
        for history in plants_over_time(series, candidate=prior, periods=periods, period_index=index,
                                        months_per_period=PERIOD_MONTHS[period]):
            seen = history.first is not None
            present += seen
            print("| %s | never PV | %s | %s | %s | %s | %s |" % (
                name, "".join(history.raw), history.presence, periods[history.first].label if seen else "",
                periods[history.last].label if seen else "", history.status))
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
    print("| chip | truth | raw | presence | first seen | status | agrees |")
    print("|---|---|---|---|---|---|---|")
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
                                     months_per_period=PERIOD_MONTHS[args.period], **{args.role: prior})
        status, firsts = truth(chip)
        for history in histories:
            first = periods[history.first].label if history.first is not None else None
            ok = history.status == status and (firsts is None or "" in firsts or first in firsts)
            agree += ok
            truth_text = status + (" (%s)" % " or ".join(firsts) if firsts and "" not in firsts else "")
            print("| %s | %s | %s | %s | %s | %s | %s |" % (chip, truth_text, "".join(history.raw), history.presence,
                                                          first or "", history.status, "yes" if ok else "no"))
    print("\n%d of %d prior components agree with the truth (%s priors grown by 1 px)." % (agree, len(paths),
                                                                                          args.role))


if __name__ == "__main__":
    main()
