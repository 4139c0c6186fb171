"""PV plants over time: when each prior became PV, period by period (year, quarter or month).

For every period the clear observations of the period are composited (per-pixel median, as
:mod:`.composite` does) in the windows around the priors only, and every prior component is decided as the
improved method decides a candidate (:func:`.improved.decide_component`): by the contrast of the plant with its
own surroundings *in that period*, never by an absolute threshold (vegetated plants have negative NDPI in summer,
snow covers plants in winter). The per-period decisions (``1`` PV, ``0`` not PV, ``-`` no data) are then settled
over time by :func:`settle_presence`:

- a period is *no data* (``-``), not absence, when fewer than :data:`MIN_OBSERVED_SHARE` of the prior's pixels
  have a clear observation in it, or when its surroundings cannot be seen;
- absences between two presences (snow, cloud, a green summer) are not a removal: the plant stays;
- absences are evidence only when, together, they last at least :data:`MIN_ABSENCE_MONTHS` months (two quarters,
  six months, or one year): snow and a green season last less. So a plant once seen stays unless that much
  observed absence follows its last presence (``removed``), and absences before its first presence mean it was
  not built yet (``built``) only when there are that many; shorter runs of absence at either end are gaps too.

Memory does not grow with the number of dates: each read window is composited in row strips of at most
:data:`STRIP_VALUES` values per band, and only the dates of one period are read at a time.
"""
from dataclasses import dataclass, field

import numpy as np

from .bandsource import BandSource
from .bands import ROLES
from .components import label_plants
from .composite import OUTPUT_NODATA, clear_median
from .fusion import DEFAULT_MIN_AREA_PIXELS, SOURCE_NAMES, normalise_priors
from .improved import decide_component, prior_components
from .progress import NO_PROGRESS
from .windows import READ_TARGET, group_windows, sub_window

PRESENT, ABSENT, NO_DATA = "1", "0", "-"
STATUS_FROM_START = "present from start"
STATUS_BUILT = "built"
STATUS_REMOVED = "removed"
STATUS_NOT_SEEN = "not seen"
#: A period is observed for a prior when at least this share of its pixels has a clear observation in it.
MIN_OBSERVED_SHARE = 0.5
#: Observed absence (months, summed over absent periods) needed before a first presence to call a plant built
#: then, or after its last presence to call it removed.
MIN_ABSENCE_MONTHS = 6
#: Values per band read at once (dates × rows × columns) when compositing a window: bounds memory.
STRIP_VALUES = 1 << 22


class ArraySeries:
    """A time series in memory: DN arrays (t, rows, cols) keyed by role and a bool (t, rows, cols) of clear
    observations (None = every observation clear), with the dates (``datetime.date``) of the t axis.
    ``reads`` counts the windows read (tests check what is read)."""

    def __init__(self, dn_by_role, dates, clear=None, scale=10000.0, offset=0.0, read_target=READ_TARGET):
        self.dn_by_role = {role: np.asarray(dn_by_role[role]) for role in ROLES}
        self.dates = list(dates)
        self.shape = self.dn_by_role[ROLES[0]].shape[1:]
        self.clear = np.ones((len(self.dates),) + self.shape, bool) if clear is None else np.asarray(clear, bool)
        self.block_shape = self.shape
        self.read_target = read_target
        self.scale, self.offset = scale, offset
        self.reads = 0

    def read(self, rows, cols, times):
        """(DN arrays (t, h, w) keyed by role, clear bool (t, h, w)) of the window for the time steps ``times``."""
        self.reads += 1
        return ({role: band[times, rows, cols] for role, band in self.dn_by_role.items()},
                self.clear[times, rows, cols])


class CompositeBands(BandSource):
    """Reads nothing: tells the core how to scale composite DN (nodata :data:`~.composite.OUTPUT_NODATA`)."""

    def __init__(self, scale, offset):
        self.scale, self.offset = scale, offset
        self.nodata_by_role = {role: OUTPUT_NODATA for role in ROLES}


def period_composite(series, window, times):
    """Per-pixel median of the clear observations at ``times`` in ``window``: int16 DN keyed by role,
    :data:`~.composite.OUTPUT_NODATA` where no observation is clear. Read in row strips so that memory does not
    grow with the number of dates."""
    rows, cols = window
    height, width = rows.stop - rows.start, cols.stop - cols.start
    composite = {role: np.full((height, width), OUTPUT_NODATA, np.int16) for role in ROLES}
    step = max(1, STRIP_VALUES // max(1, len(times) * width))
    for top in range(0, height, step):
        strip = slice(rows.start + top, min(rows.start + top + step, rows.stop))
        dn, clear = series.read(strip, cols, times)
        clear = clear & np.logical_and.reduce([valid_dn(dn[role]) for role in ROLES])
        for role in ROLES:
            composite[role][top:top + strip.stop - strip.start] = clear_median(dn[role], clear)
    return composite


def valid_dn(values):
    """Finite values (integers are always finite)."""
    return np.isfinite(values) if np.issubdtype(values.dtype, np.floating) else np.ones(values.shape, bool)


@dataclass
class PlantHistory:
    """One prior component through the periods: its window and prior mask, role, per-period decisions and the
    outlines (bool masks in the window) of the periods where it was PV; after :meth:`settle`, its presence."""
    window: tuple
    prior: np.ndarray
    candidate: bool
    raw: list = field(default_factory=list)
    outlines: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    presence: str = ""
    status: str = ""

    def settle(self, months_per_period):
        self.presence, self.status = settle_presence("".join(self.raw), months_per_period)

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
        first); None when the plant is not there."""
        if not self.exists_in(period):
            return None
        seen = sorted(self.outlines, key=lambda p: (abs(p - period), p > period))
        return self.outlines[seen[0]]

    @property
    def latest(self):
        """Index of the latest period with an outline of its own (None when never seen)."""
        return max(self.outlines) if self.outlines else None


def settle_presence(raw, months_per_period=3):
    """(presence, status) from per-period decisions ``raw`` (``1``/``0``/``-`` per period, oldest first) of
    ``months_per_period`` months each; see the module docstring for the rules."""
    first, last = raw.find(PRESENT), raw.rfind(PRESENT)
    if first < 0:
        return raw, STATUS_NOT_SEEN
    presence = list(raw)
    leading = [period for period in range(first) if raw[period] == ABSENT]
    trailing = [period for period in range(last + 1, len(raw)) if raw[period] == ABSENT]
    built = len(leading) * months_per_period >= MIN_ABSENCE_MONTHS
    removed = len(trailing) * months_per_period >= MIN_ABSENCE_MONTHS
    gaps = [period for period in range(first, last) if raw[period] == ABSENT]
    for period in gaps + ([] if built else leading) + ([] if removed else trailing):
        presence[period] = PRESENT
    status = STATUS_REMOVED if removed else STATUS_BUILT if built else STATUS_FROM_START
    return "".join(presence), status


def decide_in_period(bands, dn, history, in_prior, min_area):
    """Decision (``1``/``0``/``-``) and outline of one prior in one period's composite DN ``dn`` (its window)."""
    index, valid = bands.ndpi(dn)
    prior = history.prior
    if np.count_nonzero(prior & valid) < MIN_OBSERVED_SHARE * np.count_nonzero(prior):
        return NO_DATA, None, None
    result = decide_component(bands, dn, prior, in_prior, True)
    if result is None or result.undecided:
        return NO_DATA, None, result
    labels, count = label_plants(result.kept, min_area)
    if not result.accepted or not count:
        return ABSENT, None, result
    return PRESENT, labels > 0, result


def plants_over_time(series, trusted=None, candidate=None, periods=(), period_index=(), *, months_per_period=3,
                     min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """The history of every prior component (a list of :class:`PlantHistory`, settled) through ``periods``.

    ``series`` is an :class:`ArraySeries` or any object with its ``shape``, ``block_shape``, ``read_target``,
    ``scale``, ``offset`` and ``read(rows, cols, times)``; ``period_index`` gives the period of each of its dates
    (-1 = left out), and ``months_per_period`` their length. Priors are bool masks of ``series.shape``; candidates
    are taken where no trusted prior is.
    """
    trusted, candidate = normalise_priors(series.shape, trusted, candidate)
    in_prior = trusted | candidate
    histories = [PlantHistory(window, component, is_candidate)
                 for window, component, is_candidate in prior_components(trusted, candidate, series.shape)]
    groups = group_windows(series, [history.window for history in histories])
    bands = CompositeBands(series.scale, series.offset)
    period_index = np.asarray(period_index)
    steps = max(1, len(periods) * len(groups))
    for number, period in enumerate(periods):
        times = np.flatnonzero(period_index == number)
        progress.step(100.0 * number * len(groups) / steps, "Period %s: %d date(s)" % (period.label, times.size))
        for done, (read_window, members) in enumerate(groups):
            progress.check()
            composite = period_composite(series, read_window, times) if times.size else None
            for position in members:
                history = histories[position]
                if composite is None:
                    history.raw.append(NO_DATA)
                    continue
                state, outline, result = decide_in_period(
                    bands, sub_window(composite, read_window, history.window), history, in_prior[history.window],
                    min_area)
                history.raw.append(state)
                if outline is not None:
                    history.outlines[number] = outline
                if result is not None:
                    history.results[number] = result
            progress.step(100.0 * (number * len(groups) + done + 1) / steps)
    for history in histories:
        history.settle(months_per_period)
    return histories
