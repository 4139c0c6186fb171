"""Plants over time: the life fitted to hand-made monthly evidence, the real 2022 series of three Austrian chips
(series.npz) and two real crops (glint_1309.npz), and the real 2017–18 series of Flanders farmland with no PV
(flanders_series.npz)."""
import datetime
import os

import numpy as np
import pytest
from scipy import ndimage

from fusion_pv_mapping.core import over_time
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.composite import OUTPUT_NODATA, clear_median
from fusion_pv_mapping.core.groups import GROUP_MARGIN
from fusion_pv_mapping.core import improved
from fusion_pv_mapping.core.improved import ndpi_auc, plausible_pv
from fusion_pv_mapping.core.over_time import (ArraySeries, CompositeBands, fit_life,
                                              period_composite, plants_over_time)
from fusion_pv_mapping.core.periods import (DAY, PERIOD_MONTH, PERIOD_QUARTER, PERIOD_YEAR, YEAR, date_in_name,
                                            month_number, period_of_dates, periods_covering)
from fusion_pv_mapping.core.progress import Cancelled, Progress
from farmland_priors import farmland_priors

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
SERIES = os.path.join(DATA, "austria_pv", "series.npz")
GLINT = os.path.join(DATA, "austria_pv", "glint_1309.npz")
FLANDERS = os.path.join(DATA, "farmland_flanders", "flanders_series.npz")
EPOCH = datetime.date(1990, 1, 1)
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
    dates = [EPOCH + datetime.timedelta(days=int(d)) for d in arrays["%s_days" % chip]]
    return ArraySeries(dn, dates, clear), dates, arrays["%s_reference" % chip]


def grown(mask):
    return ndimage.binary_dilation(mask, np.ones((3, 3), bool))


def over(series, dates, kind, **priors):
    """plants_over_time by periods of ``kind`` covering the series."""
    periods = periods_covering(min(dates), max(dates), kind)
    return plants_over_time(series, periods=periods, period_index=period_of_dates(dates, periods), **priors)


def quarterly(series, dates, **priors):
    periods = periods_covering(datetime.date(2022, 1, 1), datetime.date(2022, 12, 31), PERIOD_QUARTER)
    return plants_over_time(series, periods=periods, period_index=period_of_dates(dates, periods), **priors)


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


# --- the life fitted to monthly evidence (hand-made sequences) -------------------------------------------------

FIRST_MONTH = month_number(datetime.date(2019, 1, 1))


def life_of(evidence, weights=None, cover=None, first=FIRST_MONTH):
    """fit_life of a monthly sequence starting in January 2019 (full weights unless given)."""
    evidence = np.asarray(evidence, float)
    weights = np.ones(evidence.size) if weights is None else np.asarray(weights, float)
    return fit_life(evidence, weights, first + np.arange(evidence.size), cover)


def crop_year():
    """A year of farmland as the evidence sees it: winter cover, bare bright soil in March–April (PV-like), a green
    crop, a bright stubble after the August harvest, ploughed in autumn."""
    return [0.1, 0.2, 0.8, 0.9, 0.1, 0.0, 0.1, 0.7, 0.6, 0.2, 0.1, 0.3]


@pytest.mark.parametrize("years", [1, 7])
def test_a_crop_calendar_is_never_pv(years):
    """Two PV-like seasons a year, every year, are not a plant: each is too short to persist, and together they
    explain less than the green months that come between them."""
    life = life_of(crop_year() * years)
    assert life.status == over_time.STATUS_NOT_SEEN and not life.present_months().any()


def test_a_crop_calendar_with_every_other_month_missing_is_never_pv():
    evidence = np.array(crop_year() * 7)
    evidence[1::2] = np.nan
    assert life_of(evidence).status == over_time.STATUS_NOT_SEEN


@pytest.mark.parametrize("years", [1, 7])
def test_a_plant_through_snow_cloud_and_green_summers_is_there_from_the_start(years):
    year = [np.nan, 0.2, 0.9, 0.8, 0.9, 0.3, 0.4, 0.9, 0.9, 0.8, 0.9, np.nan]  # snow in Dec–Feb, green June–July
    life = life_of(year * years)
    assert life.status == over_time.STATUS_FROM_START and life.present_months().all()


def test_a_build_is_dated_to_its_month():
    evidence = [0.1] * 30 + [0.9] * 54
    life = life_of(evidence)
    assert life.status == over_time.STATUS_BUILT and (life.start, life.end) == (30, 84)
    assert life.present_months().tolist() == [False] * 30 + [True] * 54


def test_a_removal_is_dated_to_its_month():
    life = life_of([0.8] * 40 + [0.2] * 44)
    assert life.status == over_time.STATUS_REMOVED and (life.start, life.end) == (0, 40)


def test_built_then_removed():
    life = life_of([0.0] * 12 + [1.0] * 24 + [0.0] * 12)
    assert life.status == over_time.STATUS_REMOVED and (life.start, life.end) == (12, 36)


def test_a_build_in_one_year_needs_two_quarters_of_presence():
    built = life_of([0.1] * 8 + [0.9] * 4)                 # September–December: Q3 and Q4
    assert built.status == over_time.STATUS_BUILT and built.start == 8
    late = life_of([0.1] * 10 + [0.9] * 2)                 # November–December only: too short to confirm
    assert late.status == over_time.STATUS_BUILT_UNCONFIRMED and late.start == 10
    assert not late.present_months().any() and not late.seen


def test_a_late_removal_is_unconfirmed_and_the_plant_stays():
    life = life_of([0.9] * 22 + [0.0] * 2)
    assert life.status == over_time.STATUS_REMOVED_UNCONFIRMED and life.end == 22
    assert life.present_months().all()


def test_one_absent_month_at_either_end_is_no_event():
    assert life_of([0.9] * 23 + [0.0]).status == over_time.STATUS_FROM_START
    assert life_of([0.0] + [0.9] * 23).status == over_time.STATUS_FROM_START


def test_a_short_absence_at_the_start_is_not_a_build():
    """Two absent months in one quarter do not persist: the plant was there from the start."""
    life = life_of([0.1, 0.1] + [0.9] * 22)
    assert life.status == over_time.STATUS_FROM_START and life.present_months().all()


def test_weights_count_the_observations_of_a_month():
    """Two trailing months of absence with full weight are a (not yet confirmed) removal; each seen on one date
    only (half weight), they do not outweigh the cost of a change."""
    evidence = [0.9] * 22 + [0.0] * 2
    assert life_of(evidence).status == over_time.STATUS_REMOVED_UNCONFIRMED
    assert life_of(evidence, [1.0] * 22 + [0.5] * 2).status == over_time.STATUS_FROM_START


def test_yearly_composites_stand_for_their_year():
    """One composite a year (dated 1 January, standing for 12 months): two years without the plant, then five with
    it, is a build in 2021."""
    evidence = np.full(84, np.nan)
    evidence[::12] = [0.1, 0.1, 0.9, 0.9, 0.8, 0.9, 0.9]
    cover = np.full(84, 12)
    life = life_of(evidence, cover=cover)
    assert life.status == over_time.STATUS_BUILT and life.start == 24
    assert life_of(evidence).status != over_time.STATUS_BUILT      # as single months they would not persist


def test_nothing_observed_is_not_seen():
    life = life_of([np.nan] * 12)
    assert life.status == over_time.STATUS_NOT_SEEN


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


def test_a_history_keeps_one_mask_for_outlines_that_do_not_change(series_arrays):
    """Chip 9 by month: its outline is often the same as the month before, and then the two share one mask
    (memory flat in the periods); the period results keep their numbers, not their pixels."""
    series, dates, reference = chip_series(series_arrays, "9")
    (history,) = over(series, dates, PERIOD_MONTH, trusted=grown(reference))
    outlines = list(history.outlines.values())
    distinct = {id(outline) for outline in outlines}
    assert len(outlines) >= 6 and len(distinct) < len(outlines)
    for earlier, later in zip(outlines, outlines[1:]):  # the outline of the period before is shared when equal
        assert np.array_equal(earlier, later) == (earlier is later)
    assert all(result.kept is None for result in history.results.values())


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
    assert history.raw[1] == over_time.NO_DATA and history.presence == "1-11"
    assert history.exists_in(1) and history.outline_in(1) is history.outlines[0]  # the nearest, earlier first


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


def test_a_plant_built_mid_series_gets_the_interval_of_its_construction(series_arrays):
    """Chip 2004 by month: rows show from June and panels go up in September (bench/README.md). The plant is built
    in August 2022, between two real acquisitions with nothing observed between them: July's two observed dates
    (07-19, 07-24) show no panels; a date 16 % clear over the plant (07-14) is not an observation of it."""
    series, dates, reference = chip_series(series_arrays, "2004")
    (history,) = over(series, dates, PERIOD_MONTH, candidate=grown(reference))
    assert history.status == over_time.STATUS_BUILT and history.presence == "000000011111"
    after, before = history.built_after, history.built_before
    assert datetime.date(2022, 6, 1) <= after < before <= datetime.date(2022, 9, 30)
    assert after in dates and before in dates
    observed = [day for days in history.observed_dates.values() for day in days]
    assert not [day for day in observed if after < day < before]
    assert history.removed_after is None and history.removed_before is None
    assert over_time.evidence_text(history.period_evidence)[:6] == "000000"


def test_a_stable_plant_stays_through_snow_and_a_green_summer_by_month(series_arrays):
    """Chip 9 by month: snow in Q1, grass between the rows in summer; on all their dates April and June are
    rejected on their own (presence_raw), and on the dates the default reads June is; the plant is there from the
    start either way."""
    series, dates, reference = chip_series(series_arrays, "9")
    for observations, rejected in ((0, 2), (over_time.OBSERVATIONS_PER_MONTH, 1)):
        (history,) = over(series, dates, PERIOD_MONTH, candidate=grown(reference),
                          observations_per_month=observations)
        assert history.raw.count(over_time.ABSENT) == rejected and history.raw[5] == over_time.ABSENT
        assert history.status == over_time.STATUS_FROM_START and set(history.presence) <= {"1", "-"}


def test_a_plant_first_seen_in_the_last_season_is_an_unconfirmed_build(series_arrays):
    """Chip 2004 with July–September clouded over: the plant shows only in October–December, one quarter at the end
    of the series. It is reported as built after its last absent date, not yet confirmed, and not shown as there."""
    scl = series_arrays["2004_SCL"].copy()
    _, dates, _ = chip_series(series_arrays, "2004")
    scl[[datetime.date(2022, 7, 1) <= day < datetime.date(2022, 10, 1) for day in dates]] = CLOUD
    series, dates, reference = chip_series(series_arrays, "2004", scl)
    (history,) = over(series, dates, PERIOD_MONTH, candidate=grown(reference))
    assert history.raw[-3:] == list("111") and history.status == over_time.STATUS_BUILT_UNCONFIRMED
    assert history.presence == "000000---000" and history.first is None
    assert history.built_after == max(history.observed_dates[5]) and history.built_after.month == 6
    assert history.built_before is None


def mirrored(series, dates):
    """The series with its acquisitions in reverse order, each dated as far from the end of 2022 as it was from its
    start: chip 2004 then shows a plant dismantled in mid-2022."""
    mirror = [datetime.date(2022, 12, 31) - (day - datetime.date(2022, 1, 1)) for day in dates]
    order = np.argsort(mirror)
    return (ArraySeries({role: band[order] for role, band in series.dn_by_role.items()}, [mirror[t] for t in order],
                        series.clear[order]), [mirror[t] for t in order])


def test_a_removal_is_dated_and_a_late_one_is_unconfirmed(series_arrays):
    """Chip 2004 mirrored in time: PV in January–May, bare farmland from June. Removed between two real
    acquisitions; cut at the end of July, the absence is two months long: unconfirmed, the plant stays."""
    series, dates, reference = chip_series(series_arrays, "2004")
    series, dates = mirrored(series, dates)
    (history,) = over(series, dates, PERIOD_MONTH, candidate=grown(reference))
    assert history.status == over_time.STATUS_REMOVED and history.presence.endswith("000000")
    assert history.removed_after.month == 5 and history.removed_before.month == 6
    kept = [t for t, day in enumerate(dates) if day <= datetime.date(2022, 7, 31)]
    cut = ArraySeries({role: band[kept] for role, band in series.dn_by_role.items()}, [dates[t] for t in kept],
                      series.clear[kept])
    (late,) = over(cut, [dates[t] for t in kept], PERIOD_MONTH, candidate=grown(reference))
    assert late.raw[-2:] == list("00") and late.status == over_time.STATUS_REMOVED_UNCONFIRMED
    assert late.presence.endswith("11") and late.removed_after == history.removed_after
    assert late.removed_before is None


def test_monthly_evidence_is_the_candidate_test_made_continuous(series_arrays):
    """On every observed month of the three real chips and of the Flanders farmland priors: evidence ≥ 0.5 exactly
    when the candidate test passes, and both outcomes occur."""
    cases = [chip_series(series_arrays, chip)[:2] + (grown(chip_series(series_arrays, chip)[2]),)
             for chip in ("9", "2004", "1913")]
    flanders, flanders_dates, labels = flanders_series()
    cases += [(flanders, flanders_dates, prior) for _, prior in farmland_priors(labels)[::3]]
    outcomes = []
    bands = CompositeBands(10000.0, 0.0)
    for series, dates, prior in cases:
        for month in sorted({(day.year, day.month) for day in dates}):
            times = np.array([t for t, day in enumerate(dates) if (day.year, day.month) == month])
            dn = period_composite(series, whole(series), times)
            index, valid = bands.ndpi(dn)
            core, ring = improved.core_and_ring(prior & valid, valid & ~prior)
            if not core.any() or ring.sum() < improved.MIN_RING_PIXELS:
                continue
            reflectance = bands.reflectance(dn)
            passes, _ = plausible_pv(reflectance, core, ring, ndpi_auc(index, core, ring),
                                     np.median(index[core]) > np.median(index[ring]))
            evidence = improved.pv_evidence(reflectance, index, core, ring)
            assert 0 <= evidence <= 1 and (evidence >= 0.5) == passes
            outcomes.append(passes)
    assert len(outcomes) > 60 and 10 < sum(outcomes) < len(outcomes) - 10


def test_a_glaring_month_is_not_observed():
    """Chip 1309 in September and November 2022: in November the panels glint under the low sun, 2–6 times brighter
    than their surroundings in every band. That month is not evidence of anything (without the rule it scores 0,
    an absence); September's is clear PV."""
    arrays = np.load(GLINT)
    dn = {role: arrays[band] for role, band in VARIABLES.items()}
    dates = [EPOCH + datetime.timedelta(days=int(d)) for d in arrays["days"]]
    series = ArraySeries(dn, dates, arrays["clear"])
    bands = CompositeBands(10000.0, 0.0)
    prior = grown(arrays["reference"])
    history = over_time.PlantHistory(whole(series), prior, True, prior)
    for month, expected in ((9, "clear PV"), (11, "glare")):
        times = np.array([t for t, day in enumerate(dates) if day.month == month])
        dn = period_composite(series, whole(series), times)
        index, valid = bands.ndpi(dn)
        core, ring = improved.core_and_ring(prior & valid, valid & ~prior)
        glare = over_time.glaring(bands.reflectance(dn), core, ring)
        evidence = over_time.month_evidence(over_time.Measured.of(bands, dn), history)
        if expected == "glare":
            assert glare and evidence is None
            assert improved.pv_evidence(bands.reflectance(dn), index, core, ring) == 0
        else:
            assert not glare and evidence >= 0.9


def whole(series):
    """The window of a whole series."""
    return slice(0, series.shape[0]), slice(0, series.shape[1])


def flanders_series():
    """(ArraySeries, dates, parcel register) of the real Flanders farmland series."""
    arrays = np.load(FLANDERS)
    dn = {role: arrays[band] for role, band in VARIABLES.items()}
    dates = [EPOCH + datetime.timedelta(days=int(d)) for d in arrays["days"]]
    return ArraySeries(dn, dates, arrays["clear"]), dates, arrays["crop_type"]


@pytest.mark.parametrize("kind", [PERIOD_YEAR, PERIOD_QUARTER, PERIOD_MONTH])
def test_farmland_is_never_pv(kind):
    """Flanders, 2017-08 to 2018-11, no PV: every parcel of at least 60 px (eroded by 1 px) and ten plant-sized
    rectangles, each alone as a candidate. Some periods look like PV on their own (presence_raw), none is ever
    present and nothing is dated."""
    series, dates, labels = flanders_series()
    priors = farmland_priors(labels)
    raw_presences, statuses = 0, set()
    for name, prior in priors:
        (history,) = over(series, dates, kind, candidate=prior)
        raw_presences += over_time.PRESENT in history.raw
        statuses.add(history.status)
        assert over_time.PRESENT not in history.presence, name
        assert history.built_after is history.built_before is history.removed_after is None, name
    assert statuses == {over_time.STATUS_NOT_SEEN}
    assert raw_presences >= 2


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


def test_reading_ahead_in_runs_or_in_strips_gives_the_same_history(series_arrays, monkeypatch):
    """Chip 2004 by month: windows read ahead date by date (default), one window per run, or in row strips of all
    dates (too large to read ahead) give the same decisions, evidence and dates."""
    series, dates, reference = chip_series(series_arrays, "2004")

    def history():
        (one,) = over(series, dates, PERIOD_MONTH, candidate=grown(reference))
        return one.raw, one.presence, one.period_evidence, one.built_after, one.built_before

    default = history()
    monkeypatch.setattr(over_time, "BATCH_VALUES", 1)
    assert history() == default
    monkeypatch.setattr(over_time, "STRIP_VALUES", 200)
    reads = series.reads
    assert history() == default and series.reads - reads > 100  # strips of a row or two, every period


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


# --- observations per month: the bands of the dates the decision needs -----------------------------------------

def outcome(history):
    """What the observations per month must not change: presence, status, and the months of the changes."""
    return (history.presence, history.status, history.life.start, history.life.end,
            [(day.year, day.month) for day in (history.built_before, history.removed_before) if day])


@pytest.mark.parametrize("kind", [PERIOD_QUARTER, PERIOD_MONTH])
def test_the_default_observations_per_month_decide_as_every_date(series_arrays, kind):
    """The three real chips (a plant built in 2022, one through snow, one never PV) and the Flanders farmland: the
    default number of observations per month gives every prior the presence, status and months of change of every
    date, and reads the bands of fewer window-dates."""
    cases = [(chip_series(series_arrays, chip)[:2], grown(chip_series(series_arrays, chip)[2]))
             for chip in ("2004", "9", "1913")]
    series, dates, labels = flanders_series()
    cases += [((series, dates), prior) for _, prior in farmland_priors(labels)[:6]]
    read = {0: 0, over_time.OBSERVATIONS_PER_MONTH: 0}
    for (series, dates), prior in cases:
        every, few = (over(series, dates, kind, candidate=prior, observations_per_month=number)[0]
                      for number in read)
        assert outcome(few) == outcome(every)
        for number, history in ((0, every), (over_time.OBSERVATIONS_PER_MONTH, few)):
            read[number] += sum(map(len, history.observed_dates.values()))
    assert read[over_time.OBSERVATIONS_PER_MONTH] < 0.8 * read[0]


def test_a_month_takes_its_least_cloudy_observed_dates_and_reads_only_their_bands(series_arrays):
    """Chip 2004 with made-up scene cloud covers: each month takes the observed dates of least cloud cover, at most
    the number asked for; the others' bands are not read (their clear masks are)."""
    real, dates, reference = chip_series(series_arrays, "2004")
    covers = list(np.random.default_rng(3).uniform(0, 100, len(dates)))
    series = ArraySeries(real.dn_by_role, dates, real.clear, cloud_cover=covers)
    prior = grown(reference)
    (history,) = over(series, dates, PERIOD_MONTH, candidate=prior, observations_per_month=2)
    observed = [t for t in range(len(dates)) if np.count_nonzero(real.clear[t] & prior) >= 0.5 * prior.sum()]
    for month in range(1, 13):
        in_month = sorted((covers[t], dates[t]) for t in observed if dates[t].month == month)
        assert sorted(history.observed_dates.get(month - 1, [])) == sorted(day for _, day in in_month[:2])
    assert series.band_dates == sum(map(len, history.observed_dates.values()))
    assert series.clear_reads > series.band_dates


def test_windows_of_one_block_share_their_dates(series_arrays):
    """Two plants side by side (chip 2004 twice) under one scene cloud cover per date: both windows take the same
    dates, so that a block is fetched once per date."""
    real, dates, reference = chip_series(series_arrays, "2004")
    twice = {role: np.concatenate([band, band], axis=2) for role, band in real.dn_by_role.items()}
    covers = list(np.random.default_rng(5).uniform(0, 100, len(dates)))
    series = ArraySeries(twice, dates, np.concatenate([real.clear, real.clear], axis=2), cloud_cover=covers)
    prior = np.concatenate([grown(reference)] * 2, axis=1)
    first, second = over(series, dates, PERIOD_MONTH, candidate=prior, observations_per_month=2)
    assert first.window != second.window
    assert first.observed_dates == second.observed_dates and outcome(first) == outcome(second)


def test_every_date_reads_the_dates_observing_a_prior_only(series_arrays):
    """OBSERVATIONS_PER_MONTH = 0: the bands of every date that observes the prior are read, and no others."""
    real, dates, reference = chip_series(series_arrays, "2004")
    series, prior = real, grown(reference)
    (history,) = over(series, dates, PERIOD_MONTH, candidate=prior, observations_per_month=0)
    observed = [dates[t] for t in range(len(dates)) if np.count_nonzero(real.clear[t] & prior) >= 0.5 * prior.sum()]
    assert sorted(day for days in history.observed_dates.values() for day in days) == observed
    assert series.band_dates == len(observed) < len(dates)


class StoredCheckpoints:
    """Checkpoints kept in memory (pickled, as on disk); stops the run (raises KeyboardInterrupt, as a kill would)
    after ``stop_after`` saves."""

    def __init__(self, stop_after=None):
        self.kept, self.saves, self.stop_after = {}, 0, stop_after

    def save(self, index, period, windows, histories):
        import pickle
        self.kept[index] = pickle.dumps((period, windows, histories))
        self.saves += 1
        if self.stop_after is not None and self.saves >= self.stop_after:
            raise KeyboardInterrupt

    def restore(self, index, windows):
        import pickle
        if index not in self.kept:
            return None
        period, kept_windows, histories = pickle.loads(self.kept[index])
        return (period, histories) if kept_windows == windows else None


def test_a_run_stopped_half_way_reads_again_only_what_it_had_not_decided(series_arrays):
    """Chip 2004 three times, in three row batches, by quarter (12 batch-periods): a run stopped after 7 of them
    reads again only the 5 it had not decided, and gives the histories of a run never stopped."""
    real, dates, reference = chip_series(series_arrays, "2004")
    gap = 40  # rows between the copies: three groups, each in a row batch of its own

    def thrice(values):
        padded = np.pad(values, [(0, 0)] * (values.ndim - 2) + [(0, gap), (0, 0)])
        return np.concatenate([padded] * 3, axis=-2)
    series = ArraySeries({role: thrice(band) for role, band in real.dn_by_role.items()}, dates, thrice(real.clear),
                         read_target=60)
    prior = thrice(grown(reference))
    clean = over(series, dates, PERIOD_QUARTER, candidate=prior)
    whole = series.band_dates
    checkpoints = StoredCheckpoints(stop_after=7)
    with pytest.raises(KeyboardInterrupt):
        over(series, dates, PERIOD_QUARTER, candidate=prior, checkpoints=checkpoints)
    first = series.band_dates - whole
    checkpoints.stop_after = None
    resumed = over(series, dates, PERIOD_QUARTER, candidate=prior, checkpoints=checkpoints)
    again = series.band_dates - whole - first
    assert [outcome(history) for history in resumed] == [outcome(history) for history in clean]
    assert [history.raw for history in resumed] == [history.raw for history in clean]
    assert [history.observed_dates for history in resumed] == [history.observed_dates for history in clean]
    assert first + again == whole and 0 < again < whole / 2
    assert checkpoints.saves == 12


def test_a_month_its_two_dates_do_not_settle_reads_every_date(series_arrays):
    """Chip 9 (PV all year) by month, one of the two dates a month takes made to look like its surroundings inside
    the plant (as haze or a bad correction can): the two disagree, so the month reads every date that observes
    the plant, and its evidence is that of every date; the other months keep the dates they took."""
    real, dates, reference = chip_series(series_arrays, "9")
    prior = grown(reference)
    (clean,) = over(real, dates, PERIOD_MONTH, candidate=prior, observations_per_month=2)
    observing = [t for t in range(len(dates)) if np.count_nonzero(real.clear[t] & prior) >= 0.5 * prior.sum()]
    month = next(m for m in range(1, 13) if sum(dates[t].month == m for t in observing) >= 3
                 and len(clean.observed_dates.get(m - 1, [])) == 2)
    second = dates.index(max(clean.observed_dates[month - 1]))
    dn = {role: band.copy() for role, band in real.dn_by_role.items()}
    ring = ndimage.binary_dilation(prior, iterations=3) & ~prior
    for band in dn.values():
        band[second][prior] = np.median(band[second][ring])
    series = ArraySeries(dn, dates, real.clear)
    (history,) = over(series, dates, PERIOD_MONTH, candidate=prior, observations_per_month=2)
    (every,) = over(series, dates, PERIOD_MONTH, candidate=prior, observations_per_month=0)
    assert history.observed_dates[month - 1] == [dates[t] for t in observing if dates[t].month == month]
    assert history.evidence[month - 1] == every.evidence[month - 1]
    assert history.status == every.status == over_time.STATUS_FROM_START
    assert {number: days for number, days in history.observed_dates.items() if number != month - 1} == {
        number: days for number, days in clean.observed_dates.items() if number != month - 1}


def test_dates_read_later_join_those_read_ahead_in_date_order(series_arrays):
    """Dates added to a window read ahead (in any order) give the window as read at all its dates at once."""
    series, dates, _ = chip_series(series_arrays, "2004")
    window = (slice(5, 30), slice(3, 20))
    first, later = np.array([2, 9, 20]), [17, 4, 11]
    both = np.sort(np.concatenate([first, later]))
    ahead = over_time.read_by_date(series, [window], [first])[0]
    joined = over_time.with_dates(ahead, series, window, both, later)
    whole = over_time.read_by_date(series, [window], [both])[0]
    assert np.array_equal(joined.clear, whole.clear)
    assert all(np.array_equal(joined.dn[role], whole.dn[role]) for role in ROLES)


def test_read_chances_foresee_the_dates_cells_choose(monkeypatch):
    """400 cells of one window each, 8 dates of one month whose scene cloud cover is the chance a cell is cloudy:
    the share of cells that read each date's bands is what ``read_chances`` foresees, to 0.06; every mask is
    read."""
    monkeypatch.setattr(over_time, "SHARED_CELL", 1)
    covers = [5.0, 10.0, 30.0, 50.0, 60.0, 80.0, 90.0, 95.0]
    dates = [datetime.date(2022, 5, 1 + 3 * number) for number in range(len(covers))]
    rows, cols, step = 20, 20, 2 * GROUP_MARGIN  # one group per window
    prior = np.zeros((rows * step, cols * step), bool)
    prior[2::step, 2::step] = prior[3::step, 2::step] = True
    rng = np.random.default_rng(11)
    cloudy = rng.random((len(dates), rows, cols)) < np.array(covers)[:, None, None] / 100
    clear = ~np.repeat(np.repeat(cloudy, step, axis=1), step, axis=2)
    dn = {role: np.full((len(dates),) + prior.shape, 1000, np.int16) for role in ROLES}
    series = ArraySeries(dn, dates, clear, cloud_cover=covers)
    histories, groups = over_time.prior_histories(None, prior, prior.shape)
    months = over_time.EvidenceMonths(periods_covering(dates[0], dates[-1], PERIOD_MONTH), dates, [0] * len(dates))
    for per_month in (0, 1, 2):
        series.clear_reads = 0
        choices = over_time.choose_dates(series, groups, histories, months.groups(np.arange(len(dates))), per_month)
        bands = over_time.read_chances(covers, [0] * len(dates), per_month)
        read = np.array([sum(time in choice.taken for choice in choices) for time in range(len(dates))])
        assert len(choices) == rows * cols
        assert np.allclose(read / len(choices), bands, atol=0.06), (per_month, read / len(choices), bands)
        assert series.clear_reads == len(choices) * len(dates)


def test_windows_of_one_cell_take_the_fewest_dates_between_them(monkeypatch):
    """Two windows of one cell, the first clear at dates 0, 1, 2 and the second at 1, 2, 3, date 0 and 3 the least
    cloudy scenes: two observations each come from dates 1 and 2 together (two dates' blocks, not four); windows
    in two cells choose alone (each its least cloudy)."""
    dates = [datetime.date(2022, 5, 1 + 5 * number) for number in range(4)]
    prior = np.zeros((40, 100), bool)
    prior[10:14, 10:14] = prior[10:14, 60:64] = True
    clear = np.zeros((4,) + prior.shape, bool)
    clear[[0, 1, 2], :, :50] = True
    clear[[1, 2, 3], :, 50:] = True
    dn = {role: np.full((4,) + prior.shape, 1000, np.int16) for role in ROLES}
    series = ArraySeries(dn, dates, clear, cloud_cover=[5.0, 40.0, 50.0, 10.0])
    histories, groups = over_time.prior_histories(None, prior, prior.shape)
    months = over_time.EvidenceMonths(periods_covering(dates[0], dates[-1], PERIOD_MONTH), dates, [0] * 4)
    month_groups = months.groups(np.arange(4))
    assert len(groups) == 2
    choices = over_time.choose_dates(series, groups, histories, month_groups, 2)
    assert [choice.times.tolist() for choice in choices] == [[1, 2], [1, 2]]
    monkeypatch.setattr(over_time, "SHARED_CELL", 40)
    assert groups[0][0][1].start // 40 != groups[1][0][1].start // 40
    choices = over_time.choose_dates(series, groups, histories, month_groups, 2)
    assert [choice.times.tolist() for choice in choices] == [[0, 1], [1, 3]]
