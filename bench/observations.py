"""Plants over time with a few observations per month against every date, on the real series.

Usage: ``python3 bench/observations.py DATA_DIR [--per-month N]`` with DATA_DIR the shared ``data`` folder. Runs
the core of ``fusionpv:plantsovertime`` (``core.over_time``) twice on every real series, with every date
(``observations_per_month=0``) and with ``N`` (default: the plugin's :data:`OBSERVATIONS_PER_MONTH`):

- the 28 Austrian chips (``austria_pv/netcdf``), by quarter and by month, their reference outline grown by one
  pixel as the prior, once trusted and once candidate;
- the Flanders farmland (``farmland_flanders``, no PV), by year, quarter and month, every parcel prior alone.

Prints one row per prior whose presence, status, built or removed month, or interval differs, and per series the
window-dates whose bands were read in each run.
"""
import argparse
import glob
import os
import sys

import numpy as np
from osgeo import gdal
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from over_time import farmland_priors, read_series, row  # noqa: E402
from fusion_pv_mapping.core.over_time import OBSERVATIONS_PER_MONTH, plants_over_time  # noqa: E402
from fusion_pv_mapping.core.periods import (PERIOD_MONTH, PERIOD_NAMES, PERIOD_QUARTER, PERIOD_YEAR,  # noqa: E402
                                            month_number, period_of_dates, periods_covering)


def outcome(history):
    """What must not change: presence, status and the months of the changes."""
    months = [month_number(day) if day else None for day in (history.built_after, history.built_before,
                                                              history.removed_after, history.removed_before)]
    return history.presence, history.status, history.life.start, history.life.end, months[1], months[3]


def compare(series, dates, priors, period, per_month, label):
    """Runs every prior (name, {role: mask}) with every date and with ``per_month``; prints the differences;
    returns (priors, differing outcomes, moved intervals, band window-dates read with every date, with N)."""
    periods = periods_covering(min(dates), max(dates), period)
    index = period_of_dates(dates, periods)
    differ = moved = 0
    reads = []
    for name, prior in priors:
        runs = []
        for observations in (0, per_month):
            before = series.band_dates
            runs.append(plants_over_time(series, periods=periods, period_index=index,
                                         observations_per_month=observations, **prior))
            reads.append(series.band_dates - before)
        for every, few in zip(*runs):
            same = outcome(every) == outcome(few)
            interval = [every.built_after, every.built_before, every.removed_after, every.removed_before]
            moves = interval != [few.built_after, few.built_before, few.removed_after, few.removed_before]
            differ += not same
            moved += same and moves
            if not same or moves:
                row(label, name, PERIOD_NAMES[period], "same" if same else "**differs**",
                    "%s %s %s" % (every.presence, every.status, interval_text(every)),
                    "%s %s %s" % (few.presence, few.status, interval_text(few)))
    return len(priors), differ, moved, sum(reads[0::2]), sum(reads[1::2])


def interval_text(history):
    return "/".join(str(day or "–") for day in (history.built_after, history.built_before,
                                                 history.removed_after, history.removed_before))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--per-month", type=int, default=OBSERVATIONS_PER_MONTH)
    args = parser.parse_args()
    totals = []
    row("series", "prior", "period", "outcome", "every date", "%d per month" % args.per_month)
    row(*["---"] * 6)
    paths = sorted(glob.glob(os.path.join(args.data, "austria_pv", "netcdf", "S2_2022_*.nc")),
                   key=lambda p: int(os.path.basename(p)[8:-3]))
    for period in (PERIOD_QUARTER, PERIOD_MONTH):
        for role in ("trusted", "candidate"):
            total = np.zeros(5, int)
            for path in paths:
                chip = os.path.basename(path)[8:-3]
                series, dates = read_series(path)
                reference = gdal.Open(os.path.join(args.data, "austria_pv", "geotiff",
                                                   "pv_mask_%s.tif" % chip)).ReadAsArray() > 0
                prior = ndimage.binary_dilation(reference, np.ones((3, 3), bool))
                total += compare(series, dates, [(chip, {role: prior})], period, args.per_month,
                                 "chip %s (%s)" % (chip, role))
            totals.append(("28 Austrian chips, %s priors" % role, PERIOD_NAMES[period], total))
    (path,) = glob.glob(os.path.join(args.data, "farmland_flanders", "S2_flanders_*.nc"))
    (labels_path,) = glob.glob(os.path.join(args.data, "farmland_flanders", "crop_type_*.tif"))
    series, dates = read_series(path)
    priors = [(name, {"candidate": prior}) for name, prior in farmland_priors(gdal.Open(labels_path).ReadAsArray())]
    for period in (PERIOD_YEAR, PERIOD_QUARTER, PERIOD_MONTH):
        totals.append(("Flanders farmland", PERIOD_NAMES[period],
                       compare(series, dates, priors, period, args.per_month, "Flanders")))
    print()
    row("series", "period", "priors", "outcome differs", "only the interval moves", "band window-dates, every date",
        "band window-dates, %d per month" % args.per_month)
    row(*["---"] * 7)
    for name, period, (priors, differ, moved, every, few) in totals:
        row(name, period, priors, differ, moved, every, few)


if __name__ == "__main__":
    main()
