"""The plan of a run of plants over time from a catalogue, made before any pixel is read: items, tiles, windows
and dates, and the bytes the reads will fetch, from the COG headers alone (GDAL, no QGIS)."""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..core.bands import ROLE_BANDS
from ..core.over_time import read_chances
from ..core.periods import month_number
from .raster import RasterReadError
from .stac_items import HEADER_BYTES

#: Headers read at once (each a request of its own: a tile-year holds hundreds of files).
HEADER_THREADS = 8


@dataclass
class ReadPlan:
    """What a run's reads will fetch: ``scl_bytes`` and ``band_bytes`` expected, ``least_bytes`` if the windows
    of a block were clear or cloudy together, ``most_bytes`` if every window read every date; the assets whose
    header could not be read (``unreadable``: (item, band, error)).

    Each date's chance of being read comes from its scene cloud cover (``core.over_time.read_chances``), taken as
    the chance that a window is clear; a block is fetched for a date when one of the windows touching it reads the
    date, the windows taken as clear or cloudy independently of each other. Every SCL block is read; each file
    read costs its header (:data:`~.stac_items.HEADER_BYTES`)."""
    items: int = 0
    tiles: int = 0
    windows: int = 0
    dates: int = 0
    scl_bytes: float = 0.0
    band_bytes: float = 0.0
    least_bytes: float = 0.0
    most_bytes: float = 0.0
    unreadable: list = field(default_factory=list)

    @property
    def bytes(self):
        return self.scl_bytes + self.band_bytes


def add_tile(plan, series, windows, period_index, per_month, is_cancelled=lambda: False):
    """Add to ``plan`` the reads of ``windows`` (of the groups a tile decides) in the catalogue ``series`` (an
    ``ItemSeries``) at its dates in the run (``period_index`` ≥ 0), ``per_month`` observations a month. The headers
    are read :data:`HEADER_THREADS` at a time."""
    in_run = [index >= 0 for index in period_index]
    months = [month_number(date.date) if wanted else -1 for date, wanted in zip(series.item_dates, in_run)]
    chances = read_chances(series.cloud_cover, months, per_month)
    plan.items += len(series.item_dates)
    plan.tiles += 1
    plan.windows += len(windows)
    plan.dates += sum(in_run)
    if not windows:
        return
    assets = [(time, band, date.paths[band], series.signed(date.paths[band]))  # signing asks for tokens: in turn
              for time, (date, wanted) in enumerate(zip(series.item_dates, in_run)) if wanted
              for band in ("SCL",) + tuple(ROLE_BANDS.values())]
    with ThreadPoolExecutor(HEADER_THREADS) as pool:
        for (time, band, _, _), (blocks, error) in zip(assets, pool.map(
                lambda asset: _blocks(series, asset[2], asset[3], windows), assets)):
            if is_cancelled():
                pool.shutdown(cancel_futures=True)
                return
            if error:
                plan.unreadable.append((series.item_dates[time].id, band, error))
            chance = 1.0 if band == "SCL" else chances[time]  # every mask is read
            if band == "SCL":
                plan.scl_bytes += _bytes(blocks, chance)
            else:
                plan.band_bytes += _bytes(blocks, chance)
            plan.least_bytes += _bytes(blocks, chance, together=True)
            plan.most_bytes += _bytes(blocks, 1.0)


def _bytes(blocks, chance, together=False):
    """Expected bytes of ``blocks`` ({block: (bytes, windows touching it)}) when each window reads the date with
    ``chance``: a block once one of its windows reads it (all at once when ``together``); the file's header when
    any block is read."""
    read = [(size, chance if together else 1.0 - (1.0 - chance) ** count) for size, count in blocks.values()]
    return sum(size * share for size, share in read) + HEADER_BYTES * max([share for _, share in read] + [0.0])


def _blocks(series, path, signed, windows):
    """(the blocks ``windows`` touch in the asset at ``path``, None), or ({}, why its header cannot be read)."""
    try:
        return series.window_blocks(path, signed, windows), None
    except RasterReadError as error:
        return {}, str(error)
