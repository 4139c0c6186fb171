"""The figure of the README's "Dates decided over the whole series": monthly PV evidence and the fitted life of
real priors, from the shared data.

Usage: ``python3 bench/over_time_figure.py DATA_DIR OUTPUT.png`` with DATA_DIR the shared ``data`` folder
(``austria_pv`` and ``farmland_flanders`` in it). Each panel: the evidence of every observed month (dot size = its
weight), the level of 0.5, the months the fitted life has the plant (shaded), its status and dates."""
import datetime
import glob
import os
import sys

import numpy as np
from osgeo import gdal
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from over_time import farmland_priors, interval, read_series  # noqa: E402
from fusion_pv_mapping.core.over_time import EVIDENCE_LEVEL, plants_over_time  # noqa: E402
from fusion_pv_mapping.core.periods import PERIOD_MONTH, period_of_dates, periods_covering  # noqa: E402

#: Austrian chips shown (reference outline grown by 1 px) and what their images show.
CHIPS = (("2004", "built in 2022: rows from June, panels from September"),
         ("9", "PV all year: snow in Q1, grass between the rows in summer"),
         ("152", "PV all year: panels glint under the low sun in November"))
#: Flanders priors shown (by the start of their name in bench/over_time.py) and what they are.
FARMLAND = (("parcel of crop 1200 (459", "maize parcel: bare in spring, harvested in autumn"),
            ("parcel of crop 9120 (59", "grassland parcel, ploughed in 2018"),
            ("rectangle 5 ", "village: streets, roofs and gardens"))


def monthly_history(series, dates, prior):
    """The one history of ``prior`` (a candidate) by month, and the months' first days."""
    periods = periods_covering(min(dates), max(dates), PERIOD_MONTH)
    (history,) = plants_over_time(series, candidate=prior, periods=periods,
                                  period_index=period_of_dates(dates, periods))
    return history, [period.start for period in periods]


def draw(axis, history, months, title):
    present = history.life.present_months()
    for month, there in enumerate(present):
        if there:
            axis.axvspan(month - 0.5, month + 0.5, color="#c7e9c0", lw=0)
    observed = sorted(history.evidence)
    axis.scatter(observed, [history.evidence[m] for m in observed], s=[40 * history.weights[m] for m in observed],
                 color="#08519c", zorder=3)
    axis.plot(observed, [history.evidence[m] for m in observed], color="#08519c", lw=0.8, alpha=0.5)
    axis.axhline(EVIDENCE_LEVEL, color="#888888", lw=0.8, ls="--")
    axis.set_ylim(-0.05, 1.05)
    axis.set_xlim(-0.5, len(months) - 0.5)
    ticks = [m for m, day in enumerate(months) if day.month in (1, 4, 7, 10)]
    axis.set_xticks(ticks)
    axis.set_xticklabels([months[m].strftime("%Y-%m") for m in ticks], fontsize=7)
    dates = interval(history)
    axis.set_title("%s\n%s%s" % (title, history.status, (" · " + dates) if dates else ""), fontsize=8)


def main(data, output):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(2, 3, figsize=(13, 6), sharey=True)
    for axis, (chip, what) in zip(axes[0], CHIPS):
        series, dates = read_series(os.path.join(data, "austria_pv", "netcdf", "S2_2022_%s.nc" % chip))
        reference = gdal.Open(os.path.join(data, "austria_pv", "geotiff", "pv_mask_%s.tif" % chip)).ReadAsArray()
        history, months = monthly_history(series, dates, ndimage.binary_dilation(reference > 0, np.ones((3, 3))))
        draw(axis, history, months, "chip %s — %s" % (chip, what))
    (path,) = glob.glob(os.path.join(data, "farmland_flanders", "S2_flanders_*.nc"))
    (labels,) = glob.glob(os.path.join(data, "farmland_flanders", "crop_type_*.tif"))
    series, dates = read_series(path)
    priors = farmland_priors(gdal.Open(labels).ReadAsArray())
    for axis, (start, what) in zip(axes[1], FARMLAND):
        (prior,) = [mask for name, mask in priors if name.startswith(start)]
        history, months = monthly_history(series, dates, prior)
        draw(axis, history, months, "Flanders — %s" % what)
    for axis in axes[:, 0]:
        axis.set_ylabel("PV evidence")
    figure.suptitle("Monthly PV evidence (dots, size = weight), the level 0.5 (dashed) and the fitted life "
                    "(shaded: the plant is there)", fontsize=9)
    figure.tight_layout()
    figure.savefig(output, dpi=90)
    print("wrote %s (%s)" % (output, datetime.date.today()))


if __name__ == "__main__":
    main(*sys.argv[1:3])
