"""The plan of a run of plants over time from a catalogue, made before any pixel is read: items, tiles, windows
and dates, and the bytes the reads will fetch, from the COG headers alone (GDAL, no QGIS)."""
from dataclasses import dataclass, field

from ..core.bands import ROLE_BANDS
from ..core.over_time import read_chances
from ..core.periods import month_number
from .raster import RasterReadError


@dataclass
class ReadPlan:
    """What a run's reads will fetch: ``scl_bytes`` and ``band_bytes`` expected (each date's blocks weighed by the
    chance it is read, ``core.over_time.read_chances``), ``most_bytes`` if every window read every date; the
    assets whose header could not be read (``unreadable``: (item, band, error))."""
    items: int = 0
    tiles: int = 0
    windows: int = 0
    dates: int = 0
    scl_bytes: float = 0.0
    band_bytes: float = 0.0
    most_bytes: float = 0.0
    unreadable: list = field(default_factory=list)

    @property
    def bytes(self):
        return self.scl_bytes + self.band_bytes


def add_tile(plan, series, windows, period_index, per_month, is_cancelled=lambda: False):
    """Add to ``plan`` the reads of ``windows`` (of the groups a tile decides) in the catalogue ``series`` (an
    ``ItemSeries``) at its dates in the run (``period_index`` ≥ 0), ``per_month`` observations a month."""
    in_run = [index >= 0 for index in period_index]
    months = [month_number(date.date) if wanted else -1 for date, wanted in zip(series.item_dates, in_run)]
    masks, bands = read_chances(series.cloud_cover, months, per_month)
    plan.items += len(series.item_dates)
    plan.tiles += 1
    plan.windows += len(windows)
    plan.dates += sum(in_run)
    if not windows:
        return
    for time, (date, wanted) in enumerate(zip(series.item_dates, in_run)):
        if not wanted:
            continue
        if is_cancelled():
            return
        scl = _bytes(plan, series, date, "SCL", windows)
        band_bytes = sum(_bytes(plan, series, date, band, windows) for band in ROLE_BANDS.values())
        plan.scl_bytes += masks[time] * scl
        plan.band_bytes += bands[time] * band_bytes
        plan.most_bytes += scl + band_bytes


def _bytes(plan, series, date, band, windows):
    try:
        return series.window_bytes(date.paths[band], windows)
    except RasterReadError as error:
        plan.unreadable.append((date.id, band, str(error)))
        return 0
