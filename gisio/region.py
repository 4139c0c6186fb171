"""Map PV plants over a region with GDAL/OGR and the core alone (no QGIS), so that the work of a tile can run in a
worker process or on a Dask worker: the prior groups a tile owns (``core.ownership``), or a share of them, are
decided and their plants traced; finished tile results are kept in a folder beside the output for a resume.

The same engine decides one image (:class:`TileJob`, ``extractpvplants`` on each tile) or a time series
(:class:`SeriesJob`, ``plantsovertime`` on each tile's series). Everything a job needs travels in the job and
everything it gives back in a plain dict (picklable and free of QGIS objects); a job never raises (but a cancel
of a job run in this process), a failure comes back as its ``error``.
"""
import os
import shutil
import pickle
import resource
import time
from dataclasses import dataclass

import numpy as np
from osgeo import ogr, osr

from ..core.extract import NoValidPixels, extract_pv_plants
from ..core.groups import GROUP_MARGIN, ArrayPriors, UnionPriors, group_priors
from ..core.over_time import OBSERVATIONS_PER_MONTH, plants_over_time
from ..core.ownership import TileOwnership
from ..core.progress import NO_PROGRESS, Cancelled
from .raster import (GROUP_READ_CACHE_MB, GdalBands, SmallBlockCache, grid_of, pv_band_number, temporary_path,
                     warp_mask, window_grid)
from .series import MosaicWindows, SeriesWindows
from .stac_items import remote_reading
from .shapes import PolygonPriors, polygonize_mask

ogr.UseExceptions()
osr.UseExceptions()

#: Job outcomes, as OUTPUT_TILES shows them.
DONE, FAILED, REUSED = "done", "failed", "reused"


@dataclass
class PriorFile:
    """A prior layer as workers read it: ``kind`` "vector" (OGR file ``path``, layer ``layer``) or "raster" (GDAL
    file ``path``), in the CRS ``crs_wkt`` QGIS gives it; ``name`` is the layer's name. ``state`` describes a
    layer copied for the workers (its copy is new every run)."""
    kind: str
    path: str
    layer: str
    crs_wkt: str
    name: str
    state: str = ""


class RegionJob:
    """What every job of a region run has: ``tile`` (its number among ``grids``, the ``RasterGrid`` of every
    tile), ``part`` of ``parts`` (its share of the groups the tile owns), and ``failed``: the tiles that failed,
    when it decides only the groups they owned that its tile owns once they are left out (a second pass, so that
    no group is lost with its tile)."""

    @property
    def key(self):
        """The name of this job's result in the results folder."""
        if self.failed:
            return "tile%04d_for_failed_%s" % (self.tile, "_".join("%04d" % tile for tile in self.failed))
        return "tile%04d_part%dof%d" % (self.tile, self.part + 1, self.parts)

    def failure(self, error, seconds=0.0):
        """The result of this job when it failed with ``error`` (see :func:`run_tile_job`)."""
        return dict(key=self.key, tile=self.tile, part=self.part, parts=self.parts, status=FAILED, error=error,
                    groups=0, decisions=[], plants=[], crs_wkt=self.grids[self.tile].crs_wkt, seconds=seconds,
                    peak_mib=0.0)


@dataclass
class TileJob(RegionJob):
    """One share of the prior groups that tile ``tile`` (its raster ``path``) owns, decided on one image."""
    tile: int
    part: int
    parts: int
    path: str
    band_numbers: dict
    nodata: dict
    scale: float
    offset: float
    trusted: list
    candidate: list
    method: int
    min_area: int
    grids: list
    #: Threads this job decides groups on (0: the core's default); 1 when local processes already fill the cores.
    threads: int = 0
    failed: tuple = ()


@dataclass
class SeriesJob(RegionJob):
    """One share of the prior groups that tile ``tile`` owns, each decided over the time ``series`` of that tile
    (a ``gisio.series.TimeSeries``) through ``periods`` (``period_index``: the period of each of its dates, -1 =
    left out; ``months_covered``: the months each date stands for), its plants traced in their latest outline."""
    tile: int
    part: int
    parts: int
    series: object
    scale: float
    offset: float
    clear_classes: tuple
    trusted: list
    candidate: list
    min_area: int
    grids: list
    periods: list
    period_index: list
    months_covered: list
    #: The series of the other tiles on the same pixel grid that overlap this one: (tile, ``TimeSeries``, period
    #: of each date, months each date stands for). Their dates are merged in where they cover a group's window.
    neighbours: tuple = ()
    failed: tuple = ()
    #: Observed dates whose bands are read per prior and month (0: every date), as ``core.over_time`` takes them.
    observations_per_month: int = OBSERVATIONS_PER_MONTH
    #: The results folder (``ResultsFolder``) whose ``<key>.checkpoints`` keeps what the job decided, batch by
    #: batch, for a rerun of a stopped run; "" keeps nothing.
    results_folder: str = ""


def _srs(wkt):
    srs = osr.SpatialReference(wkt=wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _to_pixels(grid, points):
    """(x, y) points in the CRS of a north-up ``grid`` as (column, row) pixel coordinates."""
    x0, dx, _, y0, _, dy = grid.geotransform
    return [((x - x0) / dx, (y - y0) / dy) for x, y in points]


def _corners(grid):
    x0, dx, _, y0, _, dy = grid.geotransform
    return [(x0, y0), (x0 + dx * grid.width, y0), (x0 + dx * grid.width, y0 + dy * grid.height),
            (x0, y0 + dy * grid.height)]


def same_grid(grid, other):
    """Are two north-up grids the same pixel grid: same CRS and pixel size, origins a whole number of pixels
    apart?"""
    if grid.geotransform[1] != other.geotransform[1] or grid.geotransform[5] != other.geotransform[5]:
        return False
    if not _srs(grid.crs_wkt).IsSame(_srs(other.crs_wkt)):
        return False
    return all(abs(value - round(value)) < 1e-6 for value in pixel_shift(grid, other))


def pixel_shift(grid, other):
    """(rows, columns) of the origin of north-up grid ``other`` in the pixels of ``grid`` (same pixel size)."""
    return ((other.geotransform[3] - grid.geotransform[3]) / grid.geotransform[5],
            (other.geotransform[0] - grid.geotransform[0]) / grid.geotransform[1])


def tile_ownership(tile, grids):
    """The :class:`~..core.ownership.TileOwnership` of tile ``tile`` among the tiles of ``grids``."""
    grid = grids[tile]
    quads, same = [], []
    for other in grids:
        aligned = same_grid(grid, other)
        corners = _corners(other)
        if not _srs(grid.crs_wkt).IsSame(_srs(other.crs_wkt)):
            transform = osr.CoordinateTransformation(_srs(other.crs_wkt), _srs(grid.crs_wkt))
            corners = [transform.TransformPoint(x, y)[:2] for x, y in corners]
        quads.append(_to_pixels(grid, corners))
        same.append(aligned)
    return TileOwnership(tile, quads, same)


def read_polygons(prior, grid):
    """The polygons of a vector :class:`PriorFile` that may touch ``grid`` (an OGR spatial filter on the grid's
    extent in the layer's CRS), curves made linear, in the grid's CRS, as ``PolygonPriors``."""
    source = ogr.Open(prior.path)  # held while its layer is read
    layer = source.GetLayerByName(prior.layer) if prior.layer else source.GetLayer(0)
    layer_srs, grid_srs = _srs(prior.crs_wkt), _srs(grid.crs_wkt)
    xmin, ymin, xmax, ymax = grid.bounds
    bounds = osr.CoordinateTransformation(grid_srs, layer_srs).TransformBounds(xmin, ymin, xmax, ymax, 21)
    layer.SetSpatialFilterRect(*bounds)
    to_grid = osr.CoordinateTransformation(layer_srs, grid_srs)
    wkbs = []
    for feature in layer:
        geometry = feature.GetGeometryRef()
        if geometry is None or geometry.IsEmpty():
            continue
        geometry = geometry.GetLinearGeometry() if geometry.HasCurveGeometry() else geometry.Clone()
        try:
            geometry.Transform(to_grid)
        except RuntimeError:
            continue  # beyond the domain of the transformation
        wkbs.append(geometry.ExportToWkb())
    return PolygonPriors(wkbs, grid, prior.name)


#: A raster prior is warped onto its tile's grid grown by this many pixels on every side, so that a plant crossing
#: the tile's edge is seen whole (up to this far beyond it), as a polygon is, and the tiles agree on its group.
RASTER_PRIOR_PAD = 256


def read_priors(priors, grid):
    """The prior pieces of one role (a list of :class:`PriorFile`) on ``grid``."""
    sources = []
    pad = RASTER_PRIOR_PAD
    padded = window_grid(grid, (slice(-pad, grid.height + pad), slice(-pad, grid.width + pad)))
    for prior in priors:
        if prior.kind == "vector":
            sources.append(read_polygons(prior, grid))
        else:
            sources.append(ArrayPriors(warp_mask(prior.path, pv_band_number(prior.path), padded, prior.crs_wkt),
                                       prior.name, pad))
    return UnionPriors(sources)


def share(items, part, parts):
    """Contiguous share ``part`` (0-based) of ``parts`` of a list."""
    count = len(items)
    return items[part * count // parts:(part + 1) * count // parts]


def peak_memory_mib():
    """Peak resident memory of this process so far, MiB (``VmHWM``: unlike ``ru_maxrss``, it starts afresh in a
    new program rather than carrying its parent's peak)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_tile_job(job, progress=NO_PROGRESS):
    """Decide the groups of a :class:`TileJob` and trace its plants. Returns a dict: ``key``, ``tile``, ``part``,
    ``parts``, ``status`` (:data:`DONE` or :data:`FAILED`), ``error``, ``seconds``, ``peak_mib``, ``crs_wkt``,
    ``groups``, ``decisions`` and ``plants`` ([(WKB in the tile's CRS, {field: value}), …]). ``progress`` (a core
    ``Progress``) reports and cancels when the job runs in this process."""
    return _finished(job, _decide_on_image, progress)


def run_series_job(job, progress=NO_PROGRESS):
    """Decide the groups of a :class:`SeriesJob` over its series; returns a dict as :func:`run_tile_job`, each
    plant's values holding its ``history`` (a core ``PlantHistory``) and ``pixel_area``."""
    return _finished(job, _decide_over_time, progress)


def _finished(job, decide, progress):
    """The result of ``decide(job, result, progress)``; a failure is reported in it, a cancel is raised."""
    started = time.monotonic()
    result = dict(job.failure(""), status=DONE)
    try:
        decide(job, result, progress)
    except NoValidPixels as error:
        result["error"] = str(error)
    except Cancelled:
        raise
    except Exception as error:  # noqa: BLE001 (a failed tile is reported, the others go on)
        return job.failure("%s: %s" % (type(error).__name__, error), time.monotonic() - started)
    result.update(seconds=time.monotonic() - started, peak_mib=peak_memory_mib())
    return result


def tight_box(window, mask):
    """(top, left, bottom, right) in tile pixels of the True pixels of ``mask``, placed at ``window``."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (window[0].start + rows[0], window[1].start + columns[0], window[0].start + rows[-1] + 1,
            window[1].start + columns[-1] + 1)


class OwnedGroups:
    """The groups a job decides (``choose`` of the core's mappers): those its tile owns, or with ``failed``
    tiles those they owned that it owns once they are left out; its share of them. Counts them in ``count``."""

    def __init__(self, job):
        self.job = job
        self.everyone = tile_ownership(job.tile, job.grids)
        self.ownership = self.everyone.without(job.failed)
        self.count = 0

    def __call__(self, groups):
        owned = [group for group in groups if self.ownership.owner_depth(group.box, GROUP_MARGIN) is not None]
        if self.job.failed:  # only what the failed tiles would have decided
            owned = [group for group in owned if self.everyone.owner(group.box, GROUP_MARGIN) in self.job.failed]
        chosen = share(owned, self.job.part, self.job.parts)
        self.count += len(chosen)
        return chosen

    def placed(self, window, mask):
        """``depth`` and ``at_tile_edge`` of a plant ``mask`` placed at ``window`` of the job's tile."""
        centre = ((window[1].start + window[1].stop) / 2.0, (window[0].start + window[0].stop) / 2.0)
        return dict(depth=self.ownership.depth_of(self.job.tile, centre),
                    at_tile_edge=int(self.ownership.reaches_another_tile(tight_box(window, mask))))


def _decide_on_image(job, result, progress):
    grid = grid_of(job.path)
    choose = OwnedGroups(job)
    trusted, candidate = read_priors(job.trusted, grid), read_priors(job.candidate, grid)
    with SmallBlockCache(GROUP_READ_CACHE_MB):
        bands = GdalBands(job.path, job.band_numbers, job.nodata, job.scale, job.offset)
        plant_map = extract_pv_plants(bands, trusted, candidate, method=job.method, min_area=job.min_area,
                                      choose=choose, threads=job.threads or None, progress=progress)
        del bands
    for plant, window, mask in zip(plant_map.plants, plant_map.windows, plant_map.masks):
        values = dict(pixels=plant.pixels, source=plant.source, method=plant_map.method, threshold=plant.threshold,
                      confidence=plant.confidence, refined=int(plant.refined), sources=plant.sources,
                      **choose.placed(window, mask))
        result["plants"].append((polygonize_mask(mask, window_grid(grid, window)), values))
    result.update(groups=plant_map.groups, decisions=plant_map.decisions)


def series_windows(job):
    """(windows the core reads, period of each of their dates, months each stands for) of a :class:`SeriesJob`:
    its tile's series, with the dates of its neighbours on the same grid merged in (:class:`MosaicWindows`)."""
    own = SeriesWindows(job.series, job.scale, job.offset, job.clear_classes)
    if not job.neighbours:
        return own, job.period_index, job.months_covered
    parts = [(own, (0, 0), job.period_index, job.months_covered)]
    for tile, series, period_index, months in job.neighbours:
        offset = tuple(int(round(value)) for value in pixel_shift(job.grids[job.tile], job.grids[tile]))
        parts.append((SeriesWindows(series, job.scale, job.offset, job.clear_classes), offset, period_index, months))
    mosaic = MosaicWindows(parts)
    return mosaic, mosaic.period_index, mosaic.months_covered


def neighbours_on_grid(tile, grids):
    """The tiles of ``grids`` on the same pixel grid as tile ``tile`` whose footprint overlaps it."""
    grid = grids[tile]
    left, bottom, right, top = grid.bounds
    found = []
    for other, other_grid in enumerate(grids):
        if other == tile or not same_grid(grid, other_grid):
            continue
        other_left, other_bottom, other_right, other_top = other_grid.bounds
        if other_left < right and left < other_right and other_bottom < top and bottom < other_top:
            found.append(other)
    return found


def job_windows(job):
    """The windows (rows, cols slices of its tile) of the prior groups a :class:`SeriesJob` decides."""
    grid = job.grids[job.tile]
    trusted, candidate = read_priors(job.trusted, grid), read_priors(job.candidate, grid)
    return [group.window((grid.height, grid.width)) for group in OwnedGroups(job)(group_priors(trusted, candidate))]


def _decide_over_time(job, result, progress):
    grid = job.grids[job.tile]
    choose = OwnedGroups(job)
    trusted, candidate = read_priors(job.trusted, grid), read_priors(job.candidate, grid)
    series = [job.series] + [neighbour[1] for neighbour in job.neighbours]
    checkpoints = Checkpoints(ResultsFolder.checkpoints_of(job.results_folder, job.key), series) \
        if job.results_folder else None
    with SmallBlockCache(GROUP_READ_CACHE_MB), remote_reading(series) as fetched:  # windows in raster order
        windows, period_index, months = series_windows(job)  # a catalogue's headers are read: counted
        histories = plants_over_time(windows, trusted, candidate, job.periods, period_index, months_covered=months,
                                     min_area=job.min_area, choose=choose,
                                     observations_per_month=job.observations_per_month, checkpoints=checkpoints,
                                     progress=progress)
    fetched.check_failures()
    result.update(fetched=fetched.totals)
    for history in histories:
        outline = history.shown_outline
        values = dict(history=history, pixel_area=grid.pixel_area, **choose.placed(history.window, outline))
        result["plants"].append((polygonize_mask(outline, window_grid(grid, history.window)), values))
    result.update(groups=choose.count)


class Checkpoints:
    """What a job of plants over time decided, row batch by row batch (``core.over_time.plants_over_time``), in
    ``folder``: per batch the last period decided, its group windows and its histories, in one file written
    atomically (so the folder holds one file per batch, whatever the periods). Nothing is saved once a read of
    the ``series`` failed in a way a rerun may not repeat (a server that did not answer)."""

    def __init__(self, folder, series=()):
        self.folder, self.series = folder, list(series)

    def path(self, index):
        return os.path.join(self.folder, "batch%05d.pickle" % index)

    def save(self, index, period, windows, histories):
        """Keep batch ``index`` as decided up to ``period``; best effort: a folder this process cannot write (a
        worker on another machine) keeps nothing."""
        if not self.folder or any(not one.answered() for one in self.series if hasattr(one, "answered")):
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            ResultsFolder.store_file(self.path(index), (period, windows, histories))
        except OSError:
            self.folder = None

    def restore(self, index, windows):
        """(period, histories) saved for batch ``index`` if it has the group ``windows``, else None."""
        kept = ResultsFolder.load_file(self.path(index)) if self.folder else None
        if not isinstance(kept, tuple) or len(kept) != 3 or kept[1] != windows:
            return None
        return kept[0], kept[2]


class ResultsFolder:
    """Finished job results beside the output (``<output>.tiles``), one file per job, written atomically, with
    the settings they were made with: results of other settings are cleared rather than reused. The folder is
    marked as the plugin's (:data:`MARKER`); one that is not (a folder of the user's) is never cleared."""

    SETTINGS = "settings.pickle"
    MARKER = ".made-by-fusion-pv-mapping"
    CHECKPOINTS = ".checkpoints"

    @classmethod
    def checkpoints_of(cls, folder, key):
        """The folder of the checkpoints of job ``key`` (see :class:`Checkpoints`)."""
        return os.path.join(folder, key + cls.CHECKPOINTS)

    @classmethod
    def claim(cls, folder):
        """Make ``folder`` the plugin's (created and marked) and return True, or return False when it holds
        files the plugin did not write (no marker, no settings of an earlier run)."""
        if os.path.isdir(folder) and os.listdir(folder) and not any(
                os.path.exists(os.path.join(folder, name)) for name in (cls.MARKER, cls.SETTINGS)):
            return False
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, cls.MARKER), "a", encoding="utf-8"):
            pass
        return True

    @classmethod
    def discard_if_unused(cls, folder):
        """Remove ``folder``, made by this run, when it holds no job result and no checkpoint (a run refused or
        failed before any)."""
        if os.path.isdir(folder) and not any(name.endswith((".result", cls.CHECKPOINTS))
                                             for name in os.listdir(folder)):
            shutil.rmtree(folder, ignore_errors=True)

    @classmethod
    def remove(cls, folder):
        """Remove the plugin's ``folder`` (one it marked) with everything in it, once a run no longer needs it."""
        if os.path.exists(os.path.join(folder, cls.MARKER)):
            shutil.rmtree(folder, ignore_errors=True)

    def __init__(self, folder, settings):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        settings_path = os.path.join(folder, self.SETTINGS)
        self.cleared = 0
        if self.load_file(settings_path) != settings:
            for name in os.listdir(folder):
                if name.endswith(".result"):
                    os.remove(os.path.join(folder, name))
                    self.cleared += 1
                elif name.endswith(self.CHECKPOINTS):
                    shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            self.store_file(settings_path, settings)
        for name in os.listdir(folder):
            if ".partial" in name:  # left by a run that was killed while writing
                os.remove(os.path.join(folder, name))

    def complete(self, tile):
        """The stored results of every part of tile ``tile`` under one sharing (1 part, 2 parts…), or []."""
        prefix = "tile%04d_part" % tile
        shares = {}
        for name in os.listdir(self.folder):
            if name.startswith(prefix) and name.endswith(".result"):
                part, parts = name[len(prefix):-len(".result")].split("of")
                shares.setdefault(int(parts), set()).add(int(part))
        for parts, found in sorted(shares.items()):
            if found == set(range(1, parts + 1)):
                results = [self.load("%s%dof%d" % (prefix, part, parts)) for part in range(1, parts + 1)]
                if all(result is not None for result in results):
                    return results
        return []

    def path(self, key):
        return os.path.join(self.folder, key + ".result")

    def load(self, key):
        """The stored result of job ``key``, or None."""
        return self.load_file(self.path(key))

    def store(self, result):
        """Keep a finished job's result (failed ones are not kept, so a rerun tries them again; their checkpoints
        are), and drop its checkpoints."""
        if result["status"] == DONE:
            self.store_file(self.path(result["key"]), result)
            shutil.rmtree(self.checkpoints_of(self.folder, result["key"]), ignore_errors=True)

    @staticmethod
    def load_file(path):
        try:
            with open(path, "rb") as handle:
                return pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError):
            return None

    @staticmethod
    def store_file(path, value):
        partial = temporary_path(path)
        with open(partial, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)


def plants_in_order(results):
    """All plants of the results, the deeper of two overlapping plants from tiles on different grids kept (see
    ``core.ownership``): [(result, WKB, values), …] with the tile's CRS in ``result``. Overlaps are found on
    envelopes first, then checked with OGR in the first plant's CRS."""
    plants = [(result, wkb, values) for result in results for wkb, values in result["plants"]]
    if len({result["crs_wkt"] for result in results}) <= 1:
        return plants
    return _without_duplicates(plants)


def _without_duplicates(plants):
    """Drop the shallower of two plants from different tiles that overlap by more than a quarter of the smaller."""
    target = _srs(plants[0][0]["crs_wkt"]) if plants else None
    geometries = []
    for result, wkb, _ in plants:
        geometry = ogr.CreateGeometryFromWkb(bytes(wkb))
        if not _srs(result["crs_wkt"]).IsSame(target):
            geometry.Transform(osr.CoordinateTransformation(_srs(result["crs_wkt"]), target))
        geometries.append(geometry)
    envelopes = np.array([g.GetEnvelope() for g in geometries]).reshape(-1, 4)
    order = sorted(range(len(plants)), key=lambda i: (-plants[i][2]["depth"], plants[i][0]["tile"]))
    kept = []
    for i in order:
        overlapping = False
        for j in kept:
            if plants[i][0]["tile"] == plants[j][0]["tile"]:
                continue
            a, b = envelopes[i], envelopes[j]
            if a[0] > b[1] or b[0] > a[1] or a[2] > b[3] or b[2] > a[3]:
                continue
            shared = geometries[i].Intersection(geometries[j]).GetArea()
            if shared > 0.25 * min(geometries[i].GetArea(), geometries[j].GetArea()):
                overlapping = True
                break
        if not overlapping:
            kept.append(i)
    return [plants[i] for i in sorted(kept)]
