"""Plants over time on the real 2022 series of three Austrian chips (arrays of series.npz), and its rules."""
import datetime
import os

import numpy as np
import pytest
from scipy import ndimage

from fusion_pv_mapping.core import over_time
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.composite import OUTPUT_NODATA, clear_median
from fusion_pv_mapping.core.improved import ndpi_auc, plausible_pv
from fusion_pv_mapping.core.over_time import (ArraySeries, CompositeBands, period_composite, plants_over_time,
                                              settle_presence)
from fusion_pv_mapping.core.periods import (DAY, PERIOD_MONTH, PERIOD_QUARTER, PERIOD_YEAR, YEAR, date_in_name,
                                            period_of_dates, periods_covering)
from fusion_pv_mapping.core.progress import Cancelled, Progress

SERIES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "austria_pv", "series.npz")
VARIABLES = dict(zip(ROLES, ("B02", "B03", "B04", "B08", "B11", "B12")))
#: SCL: 8 = cloud, medium probability.
CLOUD = 8
FILL = 32767


@pytest.fixture(scope="module")
def series_arrays():
    return dict(np.load(SERIES))


def chip_series(arrays, chip, scl=None):
    """(ArraySeries of a chip's real 2022 series, its dates, its reference outline)."""
    dn = {role: arrays["%s_%s" % (chip, name)] for role, name in VARIABLES.items()}
    scl = arrays["%s_SCL" % chip] if scl is None else scl
    clear = np.isin(scl, (4, 5, 6)) & (dn["RED"] != FILL)
    dates = [datetime.date(1990, 1, 1) + datetime.timedelta(days=int(d)) for d in arrays["%s_days" % chip]]
    return ArraySeries(dn, dates, clear), dates, arrays["%s_reference" % chip]


def grown(mask):
    return ndimage.binary_dilation(mask, np.ones((3, 3), bool))


def quarterly(series, dates, **priors):
    periods = periods_covering(datetime.date(2022, 1, 1), datetime.date(2022, 12, 31), PERIOD_QUARTER)
    return plants_over_time(series, periods=periods, period_index=period_of_dates(dates, periods),
                            months_per_period=3, **priors)


# --- periods and dates ------------------------------------------------------------------------------------------

def test_periods_cover_the_dates_with_labels():
    quarters = periods_covering(datetime.date(2021, 11, 5), datetime.date(2022, 7, 1), PERIOD_QUARTER)
    assert [p.label for p in quarters] == ["2021-Q4", "2022-Q1", "2022-Q2", "2022-Q3"]
    assert quarters[0].start == datetime.date(2021, 10, 1) and quarters[0].last_day == datetime.date(2021, 12, 31)
    years = periods_covering(datetime.date(2019, 6, 1), datetime.date(2025, 6, 30), PERIOD_YEAR)
    assert [p.label for p in years] == [str(y) for y in range(2019, 2026)]
    months = periods_covering(datetime.date(2022, 12, 31), datetime.date(2023, 1, 1), PERIOD_MONTH)
    assert [p.label for p in months] == ["2022-12", "2023-01"]
    assert period_of_dates([datetime.date(2022, 3, 31), datetime.date(2022, 4, 1), datetime.date(2023, 1, 1)],
                           quarters) == [1, 2, -1]


@pytest.mark.parametrize("name, expected", [
    ("S2_composite_2021.tif", (datetime.date(2021, 1, 1), YEAR)),
    ("stack_2021-06-14.tif", (datetime.date(2021, 6, 14), DAY)),
    ("S2B_MSIL2A_20210614T101559_N0500.tif", (datetime.date(2021, 6, 14), DAY)),
    ("S2L2A_2022_clearmedian_101.tif", (datetime.date(2022, 1, 1), YEAR)),
    ("tile_33UWP_2023.tif", (datetime.date(2023, 1, 1), YEAR)),
    ("chip_101.tif", (None, None)),
    ("image_12021.tif", (None, None)),
])
def test_dates_in_file_names(name, expected):
    assert date_in_name(name) == expected


# --- the rules over time ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, months, presence, status", [
    ("1111", 3, "1111", over_time.STATUS_FROM_START),
    ("1001", 3, "1111", over_time.STATUS_FROM_START),     # a snowy winter and a green summer are gaps
    ("0111", 3, "1111", over_time.STATUS_FROM_START),     # one quarter of absence is not evidence of building
    ("0011", 3, "0011", over_time.STATUS_BUILT),          # two quarters are
    ("-011", 3, "-111", over_time.STATUS_FROM_START),
    ("-111", 3, "-111", over_time.STATUS_FROM_START),     # no data is not absence
    ("0111", 12, "0111", over_time.STATUS_BUILT),         # a whole year of absence is evidence
    ("1100", 3, "1100", over_time.STATUS_REMOVED),
    ("1110", 3, "1111", over_time.STATUS_FROM_START),     # one trailing quarter is a gap
    ("11-0-0", 3, "11-0-0", over_time.STATUS_REMOVED),
    ("0000", 3, "0000", over_time.STATUS_NOT_SEEN),
    ("----", 3, "----", over_time.STATUS_NOT_SEEN),
    ("000001111111", 1, "111111111111", over_time.STATUS_FROM_START),  # five months
    ("000000111111", 1, "000000111111", over_time.STATUS_BUILT),       # six months
])
def test_settle_presence(raw, months, presence, status):
    assert settle_presence(raw, months) == (presence, status)


# --- real plants through 2022 ----------------------------------------------------------------------------------

def test_plant_built_mid_series_is_dated_when_construction_shows(series_arrays):
    """Chip 2004: bare field in Q1, crop in Q2, panel rows from July, a dark plant in Q4 (see bench/README.md)."""
    series, dates, reference = chip_series(series_arrays, "2004")
    (history,) = quarterly(series, dates, trusted=grown(reference))
    assert history.raw == list("0011") and history.status == over_time.STATUS_BUILT
    assert history.first == 2 and "soil-like" in history.results[0].reason
    latest = history.outlines[history.latest]
    inside = reference[history.window]
    assert np.count_nonzero(latest & inside) / np.count_nonzero(latest | inside) > 0.8


def test_plant_present_all_year_through_snow(series_arrays):
    """Chip 9: snow and bright snow-covered panels in Q1, PV the rest of the year. Its Q4 composite, panels as red
    relative to blue as the green field around them, is not decisive on its own; the plant stays present."""
    series, dates, reference = chip_series(series_arrays, "9")
    (history,) = quarterly(series, dates, candidate=grown(reference))
    assert history.raw[1:3] == list("11") and history.presence == "1111"
    assert history.status == over_time.STATUS_FROM_START


def test_prior_that_is_never_pv(series_arrays):
    """Chip 1913: floating PV built in 2023, open water through 2022."""
    series, dates, reference = chip_series(series_arrays, "1913")
    (history,) = quarterly(series, dates, trusted=reference)
    assert history.presence == "0000" and history.status == over_time.STATUS_NOT_SEEN
    assert not history.outlines and history.first is None and history.outline_in(3) is None


def test_period_without_clear_data_is_no_data(series_arrays):
    """Chip 9 with every Q2 observation marked cloudy: Q2 is '-', not absence, and the plant stays."""
    scl = series_arrays["9_SCL"].copy()
    _, dates, _ = chip_series(series_arrays, "9")
    scl[[datetime.date(2022, 4, 1) <= d < datetime.date(2022, 7, 1) for d in dates]] = CLOUD
    series, dates, reference = chip_series(series_arrays, "9", scl)
    (history,) = quarterly(series, dates, trusted=grown(reference))
    assert history.raw[1] == over_time.NO_DATA and history.presence[1:] == "-11"
    assert history.exists_in(1) and history.outline_in(1) is history.outlines[2]


def test_bare_soil_is_not_pv():
    """A plausibility branch: a core much redder than blue (bare soil) is rejected before any PV signal."""
    reflectance = np.zeros((12, 12, 6))
    reflectance[...] = (0.06, 0.09, 0.06, 0.35, 0.20, 0.10)   # green crop around
    core = np.zeros((12, 12), bool)
    core[3:9, 3:9] = True
    reflectance[core] = (0.07, 0.10, 0.15, 0.28, 0.33, 0.23)  # bare field: B4 > 2 × B2, high SWIR1
    ring = ~ndimage.binary_dilation(core, iterations=1)
    index = (reflectance[..., 4] - reflectance[..., 0]) / (reflectance[..., 4] + reflectance[..., 0])
    passes, reason = plausible_pv(reflectance, core, ring, ndpi_auc(index, core, ring), True)
    assert not passes and "soil-like" in reason
    reflectance[core] = (0.07, 0.08, 0.09, 0.17, 0.23, 0.14)  # real PV core of chip 101 in Q1
    assert plausible_pv(reflectance, core, ring, ndpi_auc(index, core, ring), True)[0]


# --- reading: only around priors, in bounded strips ------------------------------------------------------------

def test_composite_in_strips_equals_whole(series_arrays, monkeypatch):
    series, dates, _ = chip_series(series_arrays, "2004")
    window = (slice(5, 50), slice(3, 40))
    times = np.arange(len(dates))
    whole = period_composite(series, window, times)
    reads = series.reads
    monkeypatch.setattr(over_time, "STRIP_VALUES", len(dates) * 37 * 4)  # four rows at a time
    strips = period_composite(series, window, times)
    assert series.reads - reads == int(np.ceil(45 / 4))
    clear = series.clear[:, 5:50, 3:40]
    assert clear.any(axis=0).all()
    for role in ROLES:
        assert np.array_equal(whole[role], strips[role])
        assert np.array_equal(whole[role], clear_median(series.dn_by_role[role][:, 5:50, 3:40], clear))


def test_only_windows_around_priors_are_read(series_arrays):
    series, dates, reference = chip_series(series_arrays, "2004")
    big = {role: np.pad(band, ((0, 0), (0, 300), (0, 300)), mode="edge") for role, band in series.dn_by_role.items()}
    clear = np.pad(series.clear, ((0, 0), (0, 300), (0, 300)), mode="edge")
    padded = ArraySeries(big, dates, clear)
    seen = []
    original = padded.read
    padded.read = lambda rows, cols, times: seen.append((rows, cols)) or original(rows, cols, times)
    prior = np.zeros(padded.shape, bool)
    prior[:reference.shape[0], :reference.shape[1]] = grown(reference)
    (history,) = quarterly(padded, dates, trusted=prior)
    assert history.raw == list("0011")
    assert all(rows.stop <= reference.shape[0] + 10 and cols.stop <= reference.shape[1] + 10 for rows, cols in seen)


def test_cancel_stops_the_run(series_arrays):
    series, dates, reference = chip_series(series_arrays, "9")
    periods = periods_covering(dates[0], dates[-1], PERIOD_QUARTER)
    with pytest.raises(Cancelled):
        plants_over_time(series, reference, None, periods, period_of_dates(dates, periods),
                         progress=Progress(is_cancelled=lambda: True))


def test_composite_bands_read_composite_nodata():
    bands = CompositeBands(10000.0, 0.0)
    dn = {role: np.array([[1000, OUTPUT_NODATA]], np.int16) for role in ROLES}
    index, valid = bands.ndpi(dn)
    assert valid.tolist() == [[True, False]] and np.isfinite(index[0, 0]) and np.isnan(index[0, 1])
