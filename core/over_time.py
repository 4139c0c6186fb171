"""PV plants over time: when each prior became PV (or stopped being PV), decided over its whole series.

The priors are gathered into groups (:mod:`.groups`), as :mod:`.extract` gathers them: each group is drawn and read
in its own window only, and two levels of evidence are taken there from the clear observations (per-pixel medians,
as :mod:`.composite` makes them):

- **Per period** (year, quarter or month): every prior component is decided as the improved method decides a
  candidate (:func:`.improved.decide_component`), by its contrast with its own surroundings in that period. These
  decisions (``presence_raw``: ``1`` PV, ``0`` not PV, ``-`` no data) give the plant's outline in each period.
- **Per month**, whatever the period: how PV-like the prior is against its surroundings, 0 to 1
  (:func:`.improved.pv_evidence`), weighted by how many clear observations of the prior the month had (full weight
  from :data:`FULL_WEIGHT_DATES` dates). A month is *not observed* when fewer than :data:`MIN_OBSERVED_SHARE` of
  the prior's pixels have a clear observation in it, or when its surroundings cannot be seen.

The plant's life is then fitted to the whole monthly sequence by :func:`fit_life`: absent, then present, then
possibly absent again (built, removed). Every month agrees with the state it is given by ``weight × cover ×``
``(evidence −`` :data:`EVIDENCE_LEVEL` ``)`` (cover: the months its observations stand for, 12 for a yearly
composite); a build or a removal must explain the evidence better by :data:`CHANGE_COST`, and a
state next to a change must persist: it needs at least :data:`MIN_SUPPORT_MONTHS` observed months supporting it
(evidence at or above the level for presence, below it for absence) in at least :data:`MIN_SUPPORT_QUARTERS`
calendar quarters. PV shows the same contrast with its surroundings in every season; farmland follows its crop
calendar (bare in spring and after harvest, green between), so a few PV-like months of one season are not a plant,
and a green summer or a snowy winter is not a removal. A build or a removal that the end of the series leaves too
short to persist is *unconfirmed*: it is reported (``built (unconfirmed)``, ``removed (unconfirmed)``) but does
not change the presence. A period is no data (``-``) when none of its months was observed, else present when one
of its months is.

The dates of a change are an interval of real acquisitions: the last date observed without the plant and the first
date observed with it (a date is observed for a prior when :data:`MIN_OBSERVED_SHARE` of its pixels are clear).

Only the observations the decision needs are read: per window and month, :data:`OBSERVATIONS_PER_MONTH` dates
that observe its priors, chosen from their clear masks (:func:`choose_dates`), and every one where those do not
settle the month (:func:`unsettled_months`); a date clear on fewer than :data:`MIN_OBSERVED_SHARE` of a prior is
not composited for it.

Memory does not grow with the number of dates: each group window is composited in row strips of at most
:data:`STRIP_VALUES` values per band, only where its components are, and only the dates of one period are read at a
time.
"""
from dataclasses import dataclass, field, replace

import numpy as np

from .bandsource import BandSource
from .bands import ROLES
from .components import label_plants
from .composite import OUTPUT_NODATA, clear_median
from .extract import group_masks
from .fusion import DEFAULT_MIN_AREA_PIXELS, SOURCE_NAMES
from .groups import group_priors, prior_source
from .improved import MIN_RING_PIXELS, core_and_ring, decide_measured, prior_components, pv_evidence
from .periods import month_number
from .progress import NO_PROGRESS
from .windows import READ_TARGET, sub_window

PRESENT, ABSENT, NO_DATA = "1", "0", "-"
STATUS_FROM_START = "present from start"
STATUS_BUILT = "built"
STATUS_REMOVED = "removed"
STATUS_NOT_SEEN = "not seen"
STATUS_BUILT_UNCONFIRMED = "built (unconfirmed)"
STATUS_REMOVED_UNCONFIRMED = "removed (unconfirmed)"
#: A period, month or date is observed for a prior when at least this share of its pixels has a clear observation.
MIN_OBSERVED_SHARE = 0.5
#: Monthly evidence (0–1) at or above this supports presence, below it absence.
EVIDENCE_LEVEL = 0.5
#: A month's evidence has full weight from this many observed dates (half with one).
FULL_WEIGHT_DATES = 2
#: Observed dates whose bands are read per prior and calendar month, by default (0: every date): as many as give a
#: month full weight; every one where these do not settle the month (:func:`unsettled_months`). The others' bands are
#: never read (:func:`choose_dates`).
OBSERVATIONS_PER_MONTH = FULL_WEIGHT_DATES
#: The chosen dates of a month settle it when each one's evidence is at least this far from :data:`EVIDENCE_LEVEL`,
#: all on one side.
SETTLED_MARGIN = 0.25
#: A build or a removal must explain the monthly evidence better than no change by this much. A month of full
#: weight whose evidence is certain (0 or 1) explains it by 1, so one such month is not enough and two are.
CHANGE_COST = 1.5
#: A state next to a change persists when its supporting observed months stand for at least this many months ...
MIN_SUPPORT_MONTHS = 3
#: ... in at least this many calendar quarters (two seasons).
MIN_SUPPORT_QUARTERS = 2
#: A month in which the prior is at least this many times brighter than its surroundings in all six bands cannot be
#: read, and is not observed: the specular glint of tilted panels under a low sun (Austrian plants in October to
#: January show 1.5–6 times), or haze or cloud the mask missed. Farmland never showed it (Flanders, 2017–18).
GLINT_RATIO = 1.5
#: Values per band read at once (dates × rows × columns) when compositing a window: bounds memory.
STRIP_VALUES = 1 << 22
#: Values per band read ahead, date by date, for the windows of a row of blocks (about 200 MiB of DN and clear
#: masks): bounds memory when a period has many dates.
BATCH_VALUES = 4 * STRIP_VALUES


class ArraySeries:
    """A time series in memory: DN arrays (t, rows, cols) keyed by role and a bool (t, rows, cols) of clear
    observations (None = every observation clear), with the dates (``datetime.date``) of the t axis.
    ``reads`` counts the windows read, ``band_dates`` the window-dates whose bands were read and ``clear_reads``
    those whose clear masks alone were (tests and benches check what is read)."""

    def __init__(self, dn_by_role, dates, clear=None, scale=10000.0, offset=0.0, read_target=READ_TARGET,
                 cloud_cover=None):
        self.dn_by_role = {role: np.asarray(dn_by_role[role]) for role in ROLES}
        self.dates = list(dates)
        #: The scene's cloud cover (%) per date, None where unknown: the order in which dates are tried.
        self.cloud_cover = list(cloud_cover) if cloud_cover is not None else [None] * len(self.dates)
        self.shape = self.dn_by_role[ROLES[0]].shape[1:]
        self.clear = np.ones((len(self.dates),) + self.shape, bool) if clear is None else np.asarray(clear, bool)
        self.block_shape = self.shape
        self.read_target = read_target
        self.scale, self.offset = scale, offset
        self.reads = self.band_dates = self.clear_reads = 0

    def read(self, rows, cols, times):
        """(DN arrays (t, h, w) keyed by role, clear bool (t, h, w)) of the window for the time steps ``times``."""
        self.reads += 1
        self.band_dates += len(times)
        return ({role: band[times, rows, cols] for role, band in self.dn_by_role.items()},
                self.clear[times, rows, cols])

    def clear_masks(self, rows, cols, times):
        """Bool (t, h, w): the clear observations of the window at ``times``, without reading the bands."""
        self.clear_reads += len(times)
        return self.clear[times, rows, cols]


class CompositeBands(BandSource):
    """Reads nothing: tells the core how to scale composite DN (nodata :data:`~.composite.OUTPUT_NODATA`)."""

    def __init__(self, scale, offset):
        self.scale, self.offset = scale, offset
        self.nodata_by_role = {role: OUTPUT_NODATA for role in ROLES}


class PreRead:
    """A window already read for some dates, served to :func:`window_composites` as a series would serve it."""

    def __init__(self, window, dn, clear):
        self.top, self.dn, self.clear = window[0].start, dn, clear

    def read(self, rows, cols, times):
        local = slice(rows.start - self.top, rows.stop - self.top)
        return {role: band[:, local] for role, band in self.dn.items()}, self.clear[:, local]


def with_dates(pre_read, series, window, times, extra):
    """A :class:`PreRead` of ``window`` at ``times`` (sorted) from ``pre_read`` (``times`` but ``extra``) and
    ``series`` (``extra``, read now)."""
    extra = np.unique(np.asarray(extra, int))
    added = read_by_date(series, [window], [extra])[0]  # in the order of its dates
    order = np.argsort(np.concatenate([np.setdiff1d(times, extra), extra]), kind="stable")
    return PreRead(window, {role: np.concatenate([pre_read.dn[role], added.dn[role]])[order] for role in ROLES},
                   np.concatenate([pre_read.clear, added.clear])[order])


def read_by_date(series, windows, times_of):
    """:class:`PreRead` s of ``windows``, each at its time steps of ``times_of`` (sorted), read date by date: every
    window of one date before the next date, so that a file's blocks are decoded once for all the windows of a row
    of blocks, however many dates there are."""
    parts = [([], []) for _ in windows]
    for time in np.unique(np.concatenate([np.asarray(times, int) for times in times_of])):
        for (rows, cols), times, (dns, clears) in zip(windows, times_of, parts):
            if time in times:
                dn, clear = series.read(rows, cols, [time])
                dns.append(dn)
                clears.append(clear)
    return [PreRead(window, {role: np.concatenate([dn[role] for dn in dns]) for role in ROLES},
                    np.concatenate(clears)) for window, (dns, clears) in zip(windows, parts)]


def row_batches(groups, height):
    """``groups`` ((window, members), in raster order) in batches of windows starting in one band of ``height``
    rows."""
    batches = {}
    for group in groups:
        batches.setdefault(group[0][0].start // height, []).append(group)
    return [batches[key] for key in sorted(batches)]


def window_composites(series, window, time_groups, masks=()):
    """Per-pixel medians of the clear observations in ``window``, one per group of time steps of ``time_groups``:
    a list of int16 DN keyed by role (:data:`~.composite.OUTPUT_NODATA` where no observation is clear), and the
    clear pixels of each ``(sub-window, bool mask)`` of ``masks`` (its window inside ``window``, in the same
    coordinates as ``window``) at every time step of the groups (in sorted order), an int array (masks, times).
    With ``masks``, only their windows are composited (nodata elsewhere). Read once, in row strips, so that memory
    does not grow with the number of dates."""
    rows, cols = window
    height, width = rows.stop - rows.start, cols.stop - cols.start
    times = np.unique(np.concatenate([np.asarray(group, int) for group in time_groups]))
    positions = [np.searchsorted(times, group) for group in time_groups]
    composites = [{role: np.full((height, width), OUTPUT_NODATA, np.int16) for role in ROLES} for _ in time_groups]
    clear_pixels = np.zeros((len(masks), times.size), int)
    needed = np.zeros((height, width), bool) if masks else np.ones((height, width), bool)
    for (part_rows, part_cols), _ in masks:  # only the windows of the masks are composited
        needed[part_rows.start - rows.start:part_rows.stop - rows.start,
               part_cols.start - cols.start:part_cols.stop - cols.start] = True
    step = max(1, STRIP_VALUES // max(1, times.size * width))
    for top in range(rows.start, rows.stop, step):
        strip = slice(top, min(top + step, rows.stop))
        local = slice(top - rows.start, strip.stop - rows.start)
        dn, clear = series.read(strip, cols, times)
        clear = clear & np.logical_and.reduce([valid_dn(dn[role]) for role in ROLES]) & needed[local]
        for composite, at in zip(composites, positions):
            for role in ROLES:
                composite[role][local] = clear_median(dn[role][at], clear[at])
        for number, (part, mask) in enumerate(masks):
            first, last = max(part[0].start, strip.start), min(part[0].stop, strip.stop)
            if first < last:
                inside = mask[first - part[0].start:last - part[0].start]
                seen = clear[:, first - top:last - top, part[1].start - cols.start:part[1].stop - cols.start]
                clear_pixels[number] += seen[:, inside].sum(axis=1)
    return composites, clear_pixels


def batch_sources(series, choices):
    """(its :class:`GroupDates`, where to read its window) for the groups of one batch, each at the time steps it
    chose: windows small enough are read ahead, date by date, in runs of at most :data:`BATCH_VALUES` values
    (:func:`read_by_date`); larger ones from ``series`` in row strips. A run is read only when the previous one
    has been used."""
    fits = [window_values(choice.window) * len(choice.taken) <= STRIP_VALUES for choice in choices]
    for run in bounded([choice for choice, fit in zip(choices, fits) if fit and choice.taken]):
        yield from zip(run, read_by_date(series, [choice.window for choice in run], [choice.times for choice in run]))
    for choice, fit in zip(choices, fits):
        if not fit or not choice.taken:
            yield choice, series


def bounded(choices):
    """``choices`` (:class:`GroupDates`) in runs whose windows hold at most :data:`BATCH_VALUES` values per
    band."""
    runs, run, values = [], [], 0
    for choice in choices:
        size = window_values(choice.window) * len(choice.taken)
        if run and values + size > BATCH_VALUES:
            runs.append(run)
            run, values = [], 0
        run.append(choice)
        values += size
    return runs + ([run] if run else [])


def choose_dates(series, batch, histories, month_groups, per_month):
    """A :class:`GroupDates` per group ((window, positions of its histories)) of ``batch``: the time steps whose
    bands are read. Per calendar month ((month, its time steps) of ``month_groups``), the clear masks (SCL) of
    every window are read, and the windows of one cell of :data:`SHARED_CELL` pixels choose their dates together
    (:func:`cover_cell`): as few dates as give each of their priors ``per_month`` observed dates (0: every date
    that observes one), so that a COG block is fetched for the fewest dates."""
    choices = [GroupDates(window, members) for window, members in batch]
    covers = getattr(series, "cloud_cover", None) or [None] * len(series.dates)
    cells = {}
    for choice in choices:
        cells.setdefault((choice.window[0].start // SHARED_CELL, choice.window[1].start // SHARED_CELL),
                         []).append(choice)
    for month, month_times in month_groups:
        month_times = sorted(month_times, key=lambda time: series.dates[time])
        for time in month_times:  # date by date: a file's blocks once for every window
            for choice in choices:
                choice.see(histories, month, time, clear_masks(series, choice.window, [time])[0])
        for cell in cells.values():
            cover_cell(cell, month, month_times, per_month or 1 << 30, covers)
    return choices


#: Windows whose top left corner lies in one cell of this many pixels (10 km at 10 m: a block of Earth Search's
#: COGs) choose their dates together.
SHARED_CELL = 1024


def cover_cell(cell, month, month_times, per_month, covers):
    """Choose the dates of ``month`` for the windows of one cell (:class:`GroupDates`): repeatedly the date that
    observes the most priors still short of ``per_month`` observations, then the least scene cloud cover
    (``covers``, None last), then the month's ends first (its first date, its last…: the dates of a change as
    close as the month allows). Each window takes the chosen dates that observe a prior it still needs them for."""
    need = {(number, position): per_month for number, choice in enumerate(cell) for position in choice.members}
    left = [time for time in month_times if any(choice.observed[month][time] for choice in cell)]
    spread = {time: rank for rank, time in enumerate(ends_first(left))}
    while need and left:
        gains = {time: sum(1 for number, choice in enumerate(cell) for position in choice.observed[month][time]
                           if (number, position) in need) for time in left}
        best = min(left, key=lambda time: (-gains[time], float("inf") if covers[time] is None else covers[time],
                                           spread[time]))
        if not gains[best]:
            break
        left.remove(best)
        for number, choice in enumerate(cell):
            served = [position for position in choice.observed[month][best] if (number, position) in need]
            if served:
                choice.taken.append(best)
            for position in served:
                need[(number, position)] -= 1
                if not need[(number, position)]:
                    del need[(number, position)]


def ends_first(items):
    """``items`` from both ends inwards: first, last, second, second last…"""
    items = list(items)
    return [items[index // 2] if index % 2 == 0 else items[-1 - index // 2] for index in range(len(items))]


class GroupDates:
    """The dates of one group's ``window`` in one period: per month and date the positions of the histories
    (``members``) the date observes, and the time steps taken."""

    def __init__(self, window, members):
        self.window, self.members = window, members
        self.observed, self.taken = {}, []

    @property
    def times(self):
        return np.array(sorted(self.taken), int)

    def see(self, histories, month, time, clear):
        """Note which priors the ``clear`` mask of the window at ``time`` observes."""
        self.observed.setdefault(month, {})[time] = [
            position for position in self.members
            if histories[position].observed_by(at_history(clear, self.window, histories[position]))]

    def rest(self, month, positions):
        """Take every date of ``month`` not taken yet that observes one of the histories at ``positions``; returns
        them."""
        extra = [time for time, observed in sorted(self.observed[month].items())
                 if time not in self.taken and set(observed) & set(positions)]
        self.taken += extra
        return extra


#: The chance that a window is clear at a date whose scene cloud cover is unknown, for :func:`read_chances`.
UNKNOWN_CLEAR_CHANCE = 0.5


def read_chances(cloud_cover, month_of_date, per_month):
    """Per date, the chance that a window reads its bands under :func:`choose_dates` (every clear mask is read),
    when a window is clear at a date with the chance 1 − its scene cloud cover (%; None:
    :data:`UNKNOWN_CLEAR_CHANCE`): it does when the date is among the first ``per_month`` clear dates of its month
    by cloud cover (0: every clear date). ``month_of_date``: the month of each date (-1: left out, never read).
    Months the chosen dates do not settle (:func:`unsettled_months`) read more."""
    clear = np.array([UNKNOWN_CLEAR_CHANCE if cover is None else 1.0 - cover / 100.0 for cover in cloud_cover])
    month_of_date = np.asarray(month_of_date)
    chances = np.zeros(len(clear))
    for month in np.unique(month_of_date[month_of_date >= 0]):
        dates = np.flatnonzero(month_of_date == month)
        dates = dates[np.argsort(-clear[dates], kind="stable")]  # least cloud first, then in date order
        short = np.zeros(per_month + 1)  # chance of having taken 0 … per_month dates so far
        short[0] = 1.0
        for date in dates:
            chances[date] = (1.0 if not per_month else short[:per_month].sum()) * clear[date]
            if per_month:  # one more date taken with the chance it is clear; per_month taken is final
                taken = short[:per_month] * clear[date]
                short[:per_month] -= taken
                short[1:] += taken
    return chances


def clear_masks(series, window, times):
    """Bool (t, h, w): the clear observations of ``window`` at ``times``; from the series' masks alone when it
    can read them (``clear_masks``), else with its bands."""
    rows, cols = window
    if hasattr(series, "clear_masks"):
        return series.clear_masks(rows, cols, times)
    return series.read(rows, cols, times)[1]


def at_history(mask, window, history):
    """The part of a bool ``mask`` of ``window`` that covers ``history``'s window."""
    return sub_window({"mask": mask}, window, history.window)["mask"]


def window_values(window):
    """Pixels of a window (rows, cols slices)."""
    return (window[0].stop - window[0].start) * (window[1].stop - window[1].start)


def period_composite(series, window, times):
    """Per-pixel median of the clear observations at ``times`` in ``window`` (see :func:`window_composites`)."""
    return window_composites(series, window, [times])[0][0]


def valid_dn(values):
    """Finite values (integers are always finite)."""
    return np.isfinite(values) if np.issubdtype(values.dtype, np.floating) else np.ones(values.shape, bool)


@dataclass
class Life:
    """A plant's life fitted to its monthly evidence: present in months ``[start, end)`` (``start == end``: never),
    whether a build at ``start`` (> 0) and a removal at ``end`` (< months) are confirmed."""
    start: int
    end: int
    months: int
    build_confirmed: bool = True
    removal_confirmed: bool = True

    @property
    def seen(self):
        return self.end > self.start and self.build_confirmed

    @property
    def built(self):
        return self.start > 0 and self.end > self.start

    @property
    def removed(self):
        return self.seen and self.end < self.months

    @property
    def status(self):
        if self.end == self.start:
            return STATUS_NOT_SEEN
        if not self.build_confirmed:
            return STATUS_BUILT_UNCONFIRMED
        if self.removed:
            return STATUS_REMOVED if self.removal_confirmed else STATUS_REMOVED_UNCONFIRMED
        return STATUS_BUILT if self.built else STATUS_FROM_START

    def present_months(self):
        """Bool per month: the plant is there (an unconfirmed build is not yet, an unconfirmed removal not yet
        gone)."""
        present = np.zeros(self.months, bool)
        if self.seen:
            present[self.start:self.end if self.removal_confirmed else self.months] = True
        return present


def _support_bounds(supports):
    """For a bool per month: the first supporting month at or after each month, and the last before each month,
    as arrays of months + 1 entries (months = none after; -1 = none before)."""
    count = supports.size
    first_from = np.full(count + 1, count)
    last_before = np.full(count + 1, -1)
    for month in range(count - 1, -1, -1):
        first_from[month] = month if supports[month] else first_from[month + 1]
    for month in range(count):
        last_before[month + 1] = month if supports[month] else last_before[month]
    return first_from, last_before


class Support:
    """The months that support one state (presence or absence), to ask whether they persist in a run of months."""

    def __init__(self, supports, cover, month_numbers):
        self.covered = np.concatenate([[0], np.cumsum(np.where(supports, cover, 0))])
        self.first_from, self.last_before = _support_bounds(supports)
        self.first_quarter = np.append(month_numbers // 3, 0)
        self.last_quarter = np.append((month_numbers + cover - 1) // 3, 0)

    def persists(self, start, end):
        """Do the supporting months in [start, end) (arrays) persist: they cover at least
        :data:`MIN_SUPPORT_MONTHS` months, in at least :data:`MIN_SUPPORT_QUARTERS` calendar quarters (from the
        first supporting month's quarter to the end of the last one's cover)."""
        first, last = self.first_from[start], self.last_before[end]
        found = last >= 0
        spread = np.zeros(found.shape, int)
        spread[found] = self.last_quarter[last[found]] - self.first_quarter[first[found]] + 1
        return (self.covered[end] - self.covered[start] >= MIN_SUPPORT_MONTHS) & (spread >= MIN_SUPPORT_QUARTERS)


def fit_life(evidence, weights, month_numbers, cover=None):
    """The :class:`Life` that best explains monthly ``evidence`` (0–1 per month, NaN = not observed) with their
    ``weights`` (0–1). ``month_numbers`` are the months' :func:`month_number` (their calendar quarters follow),
    ``cover`` the months each month's observations stand for (1; 12 for a yearly composite). See the module
    docstring for the model; every (start, end) is scored at once."""
    evidence = np.asarray(evidence, float)
    months = evidence.size
    observed = np.isfinite(evidence)
    cover = np.ones(months, int) if cover is None else np.asarray(cover, int)
    month_numbers = np.asarray(month_numbers, int)
    score = np.where(observed, np.asarray(weights, float) * cover * (np.nan_to_num(evidence) - EVIDENCE_LEVEL), 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(score)])
    present = Support(observed & (evidence >= EVIDENCE_LEVEL), cover, month_numbers)
    absent = Support(observed & (evidence < EVIDENCE_LEVEL), cover, month_numbers)
    start, end = np.meshgrid(np.arange(months + 1), np.arange(months + 1), indexing="ij")
    start, end = start[start < end], end[start < end]
    # present months agree by their score, absent ones by its opposite; each change costs
    fit = 2 * (cumulative[end] - cumulative[start]) - cumulative[months]
    fit -= CHANGE_COST * ((start > 0).astype(int) + (end < months))
    unchanged = (start == 0) & (end == months)
    present_persists = present.persists(start, end)
    absent_before = absent.persists(np.zeros_like(start), start)
    absent_after = absent.persists(end, np.full_like(end, months))
    unconfirmed_build = (start > 0) & (end == months) & ~present_persists
    allowed = (unchanged | present_persists | unconfirmed_build) & ((start == 0) | absent_before)
    best = None
    if allowed.any():
        choice = np.flatnonzero(allowed)[np.argmax(fit[allowed])]
        if fit[choice] > -cumulative[months]:   # better than never present
            best = choice
    if best is None:
        return Life(0, 0, months)
    # the fit is the same wherever a change falls between two observed months: put it at the later one
    next_observed, _ = _support_bounds(observed)
    return Life(int(next_observed[start[best]]) if start[best] else 0, int(next_observed[end[best]]), months,
                not unconfirmed_build[best], end[best] == months or bool(absent_after[best]))


class EvidenceMonths:
    """The months of a run (from the first period's start to the last one's end) and the month of each date of the
    series (-1 for dates left out)."""

    def __init__(self, periods, dates, period_index):
        self.first = month_number(periods[0].start)
        self.count = month_number(periods[-1].end) - self.first
        self.of_date = np.array([month_number(day) - self.first if index >= 0 else -1
                                 for day, index in zip(dates, period_index)], int)
        self.numbers = self.first + np.arange(self.count)
        self.of_period = [np.arange(month_number(period.start) - self.first, month_number(period.end) - self.first)
                          for period in periods]

    def groups(self, times):
        """(month, its time steps) for every month holding some of the time steps ``times``."""
        months = self.of_date[times]
        return [(month, times[months == month]) for month in np.unique(months)]


@dataclass
class PlantHistory:
    """One prior component through the periods: its window and prior mask, role, per-period decisions and the
    outlines (bool masks in the window) of the periods where it was PV; its monthly evidence, weights, cover
    (months its observations stand for) and observed dates; after :meth:`settle`, its life, presence and status."""
    window: tuple
    prior: np.ndarray
    candidate: bool
    #: Pixels of the window in any prior (the ring is taken outside them), and the named prior layers the prior
    #: comes from.
    in_prior: np.ndarray = None
    sources: list = field(default_factory=list)
    raw: list = field(default_factory=list)
    outlines: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    cover: dict = field(default_factory=dict)
    observed_dates: dict = field(default_factory=dict)
    life: Life = None
    presence: str = ""
    status: str = ""
    period_evidence: list = field(default_factory=list)
    built_after: object = None
    built_before: object = None
    removed_after: object = None
    removed_before: object = None

    def settle(self, months):
        """Fit the life to the monthly evidence and derive presence, status and dates (``months``: EvidenceMonths)."""
        evidence = np.full(months.count, np.nan)
        weights = np.zeros(months.count)
        cover = np.ones(months.count, int)
        for month, value in self.evidence.items():
            evidence[month], weights[month], cover[month] = value, self.weights[month], self.cover[month]
        self.life = fit_life(evidence, weights, months.numbers, cover)
        self.status = self.life.status
        present = self.life.present_months()
        self.presence = "".join(
            NO_DATA if not np.isfinite(evidence[span]).any() else PRESENT if present[span].any() else ABSENT
            for span in months.of_period)
        self.period_evidence = [weighted_mean(evidence[span], weights[span]) for span in months.of_period]
        life = self.life
        if life.built:
            self.built_after = self.last_observed_before(life.start)
            self.built_before = self.first_observed_from(life.start) if life.build_confirmed else None
        if life.removed:
            self.removed_after = self.last_observed_before(life.end)
            self.removed_before = self.first_observed_from(life.end) if life.removal_confirmed else None

    def observed_by(self, clear):
        """Does a clear mask of the history's window observe the prior (:data:`MIN_OBSERVED_SHARE` of its pixels)?"""
        size = np.count_nonzero(self.prior)
        return size > 0 and np.count_nonzero(self.prior & clear) >= MIN_OBSERVED_SHARE * size

    def keep_outline(self, period, outline):
        """Keep the outline of ``period``; the same array as the latest kept outline when it equals it, so a plant
        that does not change holds one mask however many periods it is seen in (memory flat in the periods)."""
        if self.outlines:
            latest = self.outlines[max(self.outlines)]
            if latest.shape == outline.shape and np.array_equal(latest, outline):
                outline = latest
        self.outlines[period] = outline

    def last_observed_before(self, month):
        """The last date observed for this prior in a month before ``month`` (None when there is none)."""
        before = [day for number, days in self.observed_dates.items() if number < month for day in days]
        return max(before) if before else None

    def first_observed_from(self, month):
        """The first date observed for this prior in ``month`` or later (None when there is none)."""
        after = [day for number, days in self.observed_dates.items() if number >= month for day in days]
        return min(after) if after else None

    @property
    def source(self):
        return SOURCE_NAMES[(not self.candidate, self.candidate)]

    @property
    def first(self):
        """Index of the first period of presence (None when never seen)."""
        return self.presence.find(PRESENT) if PRESENT in self.presence else None

    @property
    def last(self):
        """Index of the last period of presence (None when never seen)."""
        return self.presence.rfind(PRESENT) if PRESENT in self.presence else None

    def exists_in(self, period):
        """Is the plant there in period ``period``: present, or a no-data period between two presences."""
        first, last = self.first, self.last
        return first is not None and first <= period <= last and self.presence[period] != ABSENT

    def outline_in(self, period):
        """Outline of the plant in ``period``: its own, else that of the nearest period with one (earlier
        first), else the prior (a presence the monthly evidence confirmed though no period decided it); None when
        the plant is not there."""
        if not self.exists_in(period):
            return None
        if not self.outlines:
            return self.prior
        seen = sorted(self.outlines, key=lambda p: (abs(p - period), p > period))
        return self.outlines[seen[0]]

    @property
    def latest(self):
        """Index of the latest period with an outline of its own (None when never seen)."""
        return max(self.outlines) if self.outlines else None

    @property
    def shown_outline(self):
        """The outline a plant layer shows: that of the latest period with one, or the prior when never seen."""
        latest = self.latest
        return self.outlines[latest] if latest is not None else self.prior


def weighted_mean(values, weights):
    """Mean of the finite ``values`` weighted by ``weights`` (NaN when none is finite)."""
    finite = np.isfinite(values)
    if not finite.any():
        return float("nan")
    return float(np.average(values[finite], weights=np.maximum(weights[finite], 1e-9)))


def evidence_text(values):
    """Per-period evidence as one character per period: its tenth (``0``–``9``, 1.0 shown as ``9``), ``-`` for
    no data."""
    return "".join(NO_DATA if value != value else str(min(9, int(value * 10))) for value in values)


@dataclass
class Measured:
    """One composite window measured once for every decision on it: NDPI, valid pixels, reflectance (rows, cols,
    6 in B2, B3, B4, B8, B11, B12 order)."""
    index: np.ndarray
    valid: np.ndarray
    reflectance: np.ndarray

    @classmethod
    def of(cls, bands, dn):
        index, valid = bands.ndpi(dn)
        return cls(index, valid, bands.reflectance(dn))

    def observes(self, prior):
        """Are at least :data:`MIN_OBSERVED_SHARE` of the prior's pixels valid?"""
        return np.count_nonzero(prior & self.valid) >= MIN_OBSERVED_SHARE * np.count_nonzero(prior)


def decide_in_period(measured, history, min_area):
    """Decision (``1``/``0``/``-``), outline and component result of one prior in one period's composite (its
    window, :class:`Measured`)."""
    if not measured.observes(history.prior):
        return NO_DATA, None, None
    result = decide_measured(measured.reflectance, measured.index, measured.valid, history.prior, history.in_prior,
                             True)
    if result is None or result.undecided:
        return NO_DATA, None, result
    labels, count = label_plants(result.kept, min_area)
    if not result.accepted or not count:
        return ABSENT, None, result
    return PRESENT, labels > 0, result


def month_evidence(measured, history):
    """PV evidence (0–1) of a prior in one month's composite (its window, :class:`Measured`); None when the month
    does not observe it: fewer than :data:`MIN_OBSERVED_SHARE` of its pixels, no ring to compare with, or a glare
    (:func:`glaring`)."""
    if not measured.observes(history.prior):
        return None
    valid = measured.valid
    core, ring = core_and_ring(history.prior & valid, valid & ~history.in_prior)
    if np.count_nonzero(ring) < MIN_RING_PIXELS or not core.any():
        return None
    if glaring(measured.reflectance, core, ring):
        return None
    return pv_evidence(measured.reflectance, measured.index, core, ring)


def glaring(reflectance, core, ring):
    """Is the core at least :data:`GLINT_RATIO` times brighter than its ring (medians) in every band?"""
    core_median, ring_median = (np.median(reflectance[pixels], axis=0) for pixels in (core, ring))
    return bool(np.all(core_median >= GLINT_RATIO * ring_median))


def prior_histories(trusted, candidate, shape, choose=None):
    """An empty :class:`PlantHistory` for every prior component, group by group (:mod:`.groups`): the priors
    (bool masks or ``PriorSource`` s) are drawn in each group's window only, never as whole masks.
    ``choose(groups)``, when given, returns the groups to take (the groups a tile of a region owns). Returns the
    histories and, per group, (its window, the positions of its histories): the group is the unit that is read."""
    trusted, candidate = prior_source(trusted, shape), prior_source(candidate, shape)
    groups = group_priors(trusted, candidate)
    histories, windows = [], []
    for group in groups if choose is None else choose(groups):
        window = group.window(shape)
        masks, named = group_masks(trusted, candidate, group, window)
        in_prior = masks[0] | masks[1]
        first = len(histories)
        for part, component, is_candidate in prior_components(*masks, in_prior.shape):
            placed = (slice(window[0].start + part[0].start, window[0].start + part[0].stop),
                      slice(window[1].start + part[1].start, window[1].start + part[1].stop))
            sources = list(dict.fromkeys(name for name, mask in named if mask[part][component].any()))
            histories.append(PlantHistory(placed, component, is_candidate, in_prior[part], sources))
        if len(histories) > first:
            windows.append((window, list(range(first, len(histories)))))
    return histories, windows


def decide_history(history, number, read_window, composite, clear, times, months, bands, covered, dates,
                   min_area):
    """Period ``number`` of one history: its decision and outline on the period's ``composite`` (of
    ``read_window``), and the evidence of each of its ``months`` ((month, its time steps), composite);
    ``clear`` counts its clear pixels at each of the period's ``times``."""
    period = Measured.of(bands, sub_window(composite, read_window, history.window))
    state, outline, result = decide_in_period(period, history, min_area)
    history.raw.append(state)
    if outline is not None:
        history.keep_outline(number, outline)
    if result is not None:
        history.results[number] = replace(result, kept=None)  # its numbers; its pixels are the outline
    seen = clear >= MIN_OBSERVED_SHARE * np.count_nonzero(history.prior)
    for (month, month_times), month_composite in months:
        measured = period if month_composite is composite else Measured.of(
            bands, sub_window(month_composite, read_window, history.window))
        evidence = month_evidence(measured, history)
        if evidence is None:
            continue
        observed = month_times[seen[np.searchsorted(times, month_times)]]
        history.evidence[month] = evidence
        history.weights[month] = min(max(covered[observed].sum(), 1), FULL_WEIGHT_DATES) / FULL_WEIGHT_DATES
        history.cover[month] = int(covered[month_times].max())
        history.observed_dates[month] = [dates[time] for time in (observed if observed.size else month_times)]


def plants_over_time(series, trusted=None, candidate=None, periods=(), period_index=(), *, months_covered=None,
                     min_area=DEFAULT_MIN_AREA_PIXELS, choose=None, observations_per_month=OBSERVATIONS_PER_MONTH,
                     checkpoints=None, progress=NO_PROGRESS):
    """The history of every prior component (a list of :class:`PlantHistory`, settled) through ``periods``.

    ``series`` is an :class:`ArraySeries` or any object with its ``shape``, ``block_shape``, ``read_target``,
    ``scale``, ``offset``, ``dates`` (``datetime.date`` per time step) and ``read(rows, cols, times)``, and
    optionally ``clear_masks(rows, cols, times)`` and ``cloud_cover`` (:func:`choose_dates`);
    ``period_index`` gives the period of each of its dates (-1 = left out), ``months_covered`` how many months each
    date stands for (None: 1 each; 12 for a yearly composite). Priors are bool masks of ``series.shape`` or
    ``core.groups.PriorSource`` s; candidates are taken where no trusted prior is; ``choose`` as in
    :func:`prior_histories`. ``observations_per_month``: observed dates read per prior and month (0: every date).
    ``checkpoints`` (optional): ``save(batch number, period, group windows, histories)`` is called once a row batch
    is decided in a period, and :func:`resume` takes the batches back that an earlier run saved, so that a run
    stopped half-way through reads again only the batch it was reading.
    """
    histories, groups = prior_histories(trusted, candidate, series.shape, choose)
    bands = CompositeBands(series.scale, series.offset)
    period_index = np.asarray(period_index)
    months = EvidenceMonths(periods, series.dates, period_index)
    covered = np.ones(len(series.dates), int) if months_covered is None else np.asarray(months_covered, int)
    steps = max(1, len(periods) * len(groups))
    batches = row_batches(groups, series.read_target)
    finished = resume(checkpoints, batches, histories)
    for number, period in enumerate(periods):
        times = np.flatnonzero(period_index == number)
        progress.step(100.0 * number * len(groups) / steps, "Period %s: %d date(s)" % (period.label, times.size))
        done = 0
        for index, batch in enumerate(batches):
            members = [histories[position] for _, positions in batch for position in positions]
            if number <= finished[index]:  # decided before the run was stopped
                pass
            elif not times.size:
                for history in members:
                    history.raw.append(NO_DATA)
            else:
                # one thread: the many small numpy steps hold the GIL (4 dates on a full tile: 41.5 s, 52.7 s on two)
                progress.check()
                choices = choose_dates(series, batch, histories, months.groups(times), observations_per_month)
                for choice, source in batch_sources(series, choices):
                    decide_group(series, source, choice, histories, number, months, bands, covered, series.dates,
                                 min_area, observations_per_month > 0)
                if checkpoints is not None:
                    checkpoints.save(index, number, [window for window, _ in batch], members)
            done += len(batch)
            progress.step(100.0 * (number * len(groups) + done) / steps)
    for history in histories:
        history.settle(months)
    return histories


def resume(checkpoints, batches, histories):
    """Per batch, the last period it was decided in before an earlier run stopped (-1: none), its histories put
    back in ``histories`` from ``checkpoints`` (``restore(batch number, windows)``: (period, histories) kept for
    the batch with those group windows, or None)."""
    finished = [-1] * len(batches)
    for index, batch in enumerate(batches if checkpoints is not None else ()):
        kept = checkpoints.restore(index, [window for window, _ in batch])
        positions = [position for _, members in batch for position in members]
        if kept is not None and len(kept[1]) == len(positions):
            finished[index] = kept[0]
            for position, history in zip(positions, kept[1]):
                histories[position] = history
    return finished


def decide_group(series, source, choice, histories, number, months, bands, covered, dates, min_area, settle):
    """Period ``number`` of the histories of one group (its :class:`GroupDates` ``choice``), from its window
    composited at the time steps it chose (none: the period is no data for them), read from ``source``. With
    ``settle``, a month whose chosen dates do not settle it (:func:`unsettled_months`) takes every date first."""
    members = [histories[position] for position in choice.members]
    times = choice.times
    if not len(times):
        for history in members:
            history.raw.append(NO_DATA)
        return
    composites = compose(source, choice.window, members, months, times, settle)
    if settle:
        extra = [time for month, positions in unsettled_months(composites, members, choice, bands)
                 for time in choice.rest(month, positions)]
        if extra:
            times = choice.times
            source = series if source is series else with_dates(source, series, choice.window, times, extra)
            composites = compose(source, choice.window, members, months, times, False)
    month_groups, period, monthly, clear_pixels = composites[:4]
    for history, clear in zip(members, clear_pixels):
        decide_history(history, number, choice.window, period, clear, times, zip(month_groups, monthly), bands,
                       covered, dates, min_area)


def compose(source, window, members, months, times, per_date):
    """(month groups, the period's composite, each month's, clear pixels of each member at each time step, and
    with ``per_date`` each date's image) of ``window`` at ``times``."""
    month_groups = months.groups(times)
    time_groups = [times] + ([] if len(month_groups) == 1 else [dates for _, dates in month_groups])
    if per_date:
        time_groups += [[time] for time in times]
    masks = [(history.window, history.prior) for history in members]
    composites, clear_pixels = window_composites(source, window, time_groups, masks)
    months_end = len(time_groups) - (len(times) if per_date else 0)
    monthly = composites[months_end - len(month_groups):months_end]
    return month_groups, composites[0], monthly, clear_pixels, composites[months_end:]


def unsettled_months(composites, members, choice, bands):
    """(month, positions of the histories it leaves unsettled) where the chosen dates do not settle a history's
    month: two or more observed dates of which one is within :data:`SETTLED_MARGIN` of :data:`EVIDENCE_LEVEL` or
    they fall on both sides of it, or whose composite cannot be read (a glare) though each date observes the
    prior. Such a month reads every date that observes the prior: its composite is that of every date, as plants
    under a changing cover (snow, grass, haze) need it."""
    month_groups, _, monthly, clear_pixels, by_date = composites
    times = choice.times
    unsettled = {}
    for history, position, clear in zip(members, choice.members, clear_pixels):
        seen = clear >= MIN_OBSERVED_SHARE * np.count_nonzero(history.prior)
        for (month, month_times), composite in zip(month_groups, monthly):
            observed = [index for index in np.searchsorted(times, month_times) if seen[index]]
            if len(observed) < 2:
                continue
            evidence = month_evidence(Measured.of(bands, sub_window(composite, choice.window, history.window)),
                                      history)
            each = [month_evidence(Measured.of(bands, sub_window(by_date[index], choice.window, history.window)),
                                   history) for index in observed]
            each = [value for value in each if value is not None]
            if evidence is None or not settled(each):
                unsettled.setdefault(month, []).append(position)
    return sorted(unsettled.items())


def settled(evidence):
    """Do single dates' evidence values agree, each at least :data:`SETTLED_MARGIN` from the level?"""
    return all(value >= EVIDENCE_LEVEL + SETTLED_MARGIN for value in evidence) or all(
        value < EVIDENCE_LEVEL - SETTLED_MARGIN for value in evidence)
