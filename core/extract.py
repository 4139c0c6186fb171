"""Extract PV plants from a Sentinel-2 band source and priors: the whole pipeline, window by window.

:func:`extract_pv_plants`: priors (:mod:`.groups`) → each prior group decided in its window (:mod:`.improved`, or
:mod:`.paper` with one threshold per role) → plants (:mod:`.plants`). :func:`fuse` is the same fusion on whole
prior masks, kept as the whole-image reference the tests and benchmarks compare with.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .bandsource import band_source
from .components import label_plants
from .fusion import DEFAULT_MIN_AREA_PIXELS, SOURCE_CANDIDATE, SOURCE_TRUSTED, normalise_priors
from .groups import group_priors, prior_source
from .improved import decide_component, improved_fusion, outcome, outcome_counts, prior_components
from .paper import (PriorResult, confirm_candidate_values, paper_fusion_sparse, refine_trusted_values, refined_by_role,
                    role_decisions)
from .parallel import ThreadBands, map_in_threads
from .plants import agreed_confidence, plant_attributes, plant_sources
from .progress import NO_PROGRESS
from .windows import flat_indices, occupied_windows, read_shape, sub_window

METHOD_PAPER = 0
METHOD_IMPROVED = 1
METHOD_NAMES = {METHOD_PAPER: "paper", METHOD_IMPROVED: "improved"}
DEFAULT_METHOD = METHOD_IMPROVED


class NoValidPixels(ValueError):
    """The image has no valid pixel where the priors are."""


def gather_prior_ndpi(bands, masks, progress=NO_PROGRESS):
    """NDPI (float64, NaN = invalid) at the True pixels of each bool mask: [(flat indices, values), …] in
    row-major order, the number of valid pixels read, and the number of windows read. Only the block-aligned
    windows that hold prior pixels are read, on both cores."""
    shape = bands.shape
    union = np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]
    windows = occupied_windows(union, read_shape(bands.block_shape, shape, bands.read_target))
    shared = ThreadBands(bands)

    def at_priors(window):
        """NDPI at the prior pixels of one window, per mask, and the count of valid ones."""
        wanted = union[window]
        dn = {role: band[wanted] for role, band in shared.get().read(*window).items()}
        index, valid = bands.ndpi(dn)  # at the prior pixels only
        per_mask = []
        for mask in masks:
            local = mask[window]
            per_mask.append((flat_indices(window, local, shape[1]), index[local[wanted]]))
        return per_mask, int(np.count_nonzero(valid))

    done = map_in_threads(at_priors, windows, progress)
    gathered = []
    for number in range(len(masks)):
        flat = np.concatenate([d[0][number][0] for d in done]) if done else np.zeros(0, np.int64)
        value = np.concatenate([d[0][number][1] for d in done]) if done else np.zeros(0)
        order = np.argsort(flat, kind="stable")
        gathered.append((flat[order], value[order]))
    progress.step(100)
    return gathered, sum(d[1] for d in done), len(windows)


def fuse(bands, trusted=None, candidate=None, *, method=DEFAULT_METHOD, min_area=DEFAULT_MIN_AREA_PIXELS,
         progress=NO_PROGRESS):
    """Fused PV map (a :class:`~.fusion.FusionResult`) from a band source (or DN arrays keyed by role, DN =
    reflectance × 10000) and bool prior masks: ``trusted`` priors are refined, ``candidate`` priors confirmed or
    rejected, by the improved method (:mod:`.improved`, default) or the paper one (:mod:`.paper`). Raises
    :class:`NoValidPixels` when every pixel read around the priors is nodata."""
    bands = band_source(bands)
    trusted, candidate = normalise_priors(bands.shape, trusted, candidate)
    if method == METHOD_PAPER:
        progress.step(0, "Paper method: NDPI at the prior pixels")
        (trusted_ndpi, candidate_ndpi), valid_read, windows = gather_prior_ndpi(
            bands, [trusted, candidate], progress.span(0, 60))
        if windows and not valid_read:
            raise NoValidPixels("The image has no valid pixel where the priors are (all nodata, or B11 ≤ 0).")
        return paper_fusion_sparse(bands.shape, trusted_ndpi, candidate_ndpi, min_area, progress.span(60, 100))
    progress.step(0, "Improved method: prior components against their surroundings")
    fusion = improved_fusion(bands, trusted, candidate, min_area, progress)
    if (trusted.any() or candidate.any()) and not fusion.components:
        raise NoValidPixels("The image has no valid pixel where the priors are (all nodata, or B11 ≤ 0).")
    return fusion


@dataclass
class PlantMap:
    """Result of :func:`extract_pv_plants` on a raster of ``shape``: the plants (``plant_id`` 1…n in raster order
    of their first pixel), each with its window (rows, cols slices) and its bool mask in that window; how the
    method decided (one line each, for the log), how many prior groups were decided, and how each prior component
    was decided (improved method)."""
    shape: tuple
    plants: list
    windows: list
    masks: list
    decisions: list
    method: str
    groups: int = 0
    #: How each prior component was decided (``improved.outcome``; the improved method only).
    outcomes: list = field(default_factory=list)
    #: Pixels of the decided groups in a trusted prior, and in a candidate prior but no trusted one.
    prior_pixels: tuple = (0, 0)

    def mask(self):
        """The PV mask (bool) of the whole raster, for small rasters."""
        mask = np.zeros(self.shape, bool)
        for window, local in zip(self.windows, self.masks):
            mask[window] |= local
        return mask


def _local(window):
    """The window (rows, cols slices) of an array as seen from its own top-left corner."""
    return slice(0, window[0].stop - window[0].start), slice(0, window[1].stop - window[1].start)


def _shifted(inner, outer):
    """Window ``inner`` (relative to window ``outer``) in the raster's coordinates."""
    return (slice(inner[0].start + outer[0].start, inner[0].stop + outer[0].start),
            slice(inner[1].start + outer[1].start, inner[1].stop + outer[1].start))


def group_plants(window, source, group, threshold_by_group, confidence_by_group, refined_by_group, min_area,
                 named_layers=()):
    """Plants of one group window: the 8-connected components of the kept pixels (``source`` > 0) of more than
    ``min_area`` pixels, as [(first pixel (row, col) in the raster, Plant, plant window, plant mask), …];
    ``group`` gives the group id of each kept pixel for :func:`~.plants.plant_attributes`. Each plant's
    ``sources`` are the ``named_layers`` ([(name, prior mask of the window)]) it overlaps; their agreement raises
    its confidence (:func:`~.plants.agreed_confidence`)."""
    labels, _ = label_plants(source > 0, min_area)
    plants = []
    for label, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        local = labels[found] == label
        plant_window = _shifted(found, window)
        first = np.argmax(local)  # row-major: the plant's first pixel
        key = (plant_window[0].start + first // local.shape[1], plant_window[1].start + first % local.shape[1])
        plant = plant_attributes(0, source[found][local], group[found][local], threshold_by_group,
                                 confidence_by_group, refined_by_group)
        plant.sources = plant_sources(local, [(name, layer[found]) for name, layer in named_layers])
        plant.confidence = agreed_confidence(plant.confidence, len(plant.sources))
        plants.append((key, plant, plant_window, local))
    return plants


def improved_group(bands, dn, trusted, candidate, window, min_area, named_layers=()):
    """The improved method on one prior group: its window's DN arrays ``dn`` and normalised bool prior masks
    (``named_layers``: see :func:`group_plants`). Returns (plants as :func:`group_plants` gives them, the
    :func:`~.improved.outcome` of each component)."""
    source = np.zeros(trusted.shape, np.uint8)
    group = np.zeros(trusted.shape, np.int32)
    in_prior = trusted | candidate
    results = []
    for part, component, is_candidate in prior_components(trusted, candidate, trusted.shape):
        result = decide_component(bands, sub_window(dn, _local(window), part), component, in_prior[part],
                                  is_candidate)
        if result is None:
            continue
        results.append(result)
        source[part][result.kept] = SOURCE_CANDIDATE if is_candidate else SOURCE_TRUSTED
        group[part][result.kept] = len(results)
    nan = [float("nan")]
    plants = group_plants(window, source, group, np.array(nan + [r.threshold for r in results]),
                          np.array(nan + [r.confidence for r in results]),
                          np.array([False] + [r.refined for r in results]), min_area, named_layers)
    return plants, [outcome(result) for result in results]


def prior_ndpi(bands, dn, trusted, candidate, window, width):
    """NDPI (NaN = invalid) at the prior pixels of one group window, per role: [(flat indices in the raster of
    ``width`` columns, values), (…)], and the number of valid pixels in the window."""
    index, valid = bands.ndpi(dn)
    return [(flat_indices(window, mask, width), index[mask]) for mask in (trusted, candidate)], \
        int(np.count_nonzero(valid))


def paper_decisions(gathered):
    """The paper method's choice for each role from the NDPI at all prior pixels of the groups, taken in raster
    order as the whole-image method takes them: (kept flags per group, one array per role; a PriorResult per
    role)."""
    kept_by_role, results = [], []
    for role, decide in ((0, refine_trusted_values), (1, confirm_candidate_values)):
        flat = np.concatenate([g[role][0] for g in gathered]) if gathered else np.zeros(0, np.int64)
        values = np.concatenate([g[role][1] for g in gathered]) if gathered else np.zeros(0)
        order = np.argsort(flat, kind="stable")
        outcome = decide(values[order])
        kept = np.empty(values.size, bool)
        kept[order] = outcome[0]
        kept_by_role.append(np.split(kept, np.cumsum([g[role][0].size for g in gathered])[:-1]))
        results.append(PriorResult(None, outcome[1], int(values.size), bool(outcome[2]) if role == 0 else False,
                                   bool(outcome[0].all())))
    return list(zip(*kept_by_role)), results


def paper_group_plants(window, shape, gathered, kept, choices, min_area, width, named_layers=()):
    """Plants of one group window once the paper method chose its thresholds (see :func:`group_plants`)."""
    source = np.zeros(shape, np.uint8)
    for (flat, _), role_kept, code in zip(gathered, kept, (SOURCE_TRUSTED, SOURCE_CANDIDATE)):
        rows, cols = np.divmod(flat[role_kept], width)
        source[rows - window[0].start, cols - window[1].start] = code
    nan = float("nan")
    thresholds = np.array([nan] + [nan if r.choice.threshold is None else r.choice.threshold for r in choices])
    return group_plants(window, source, source.astype(np.int32), thresholds, np.full(3, nan),
                        np.array(refined_by_role(*choices)), min_area, named_layers)


def group_masks(trusted, candidate, group, window):
    """The priors of one group drawn in its ``window``: ((trusted, candidate) bool masks, candidates only where no
    trusted prior is; [(layer name, bool mask)] of its named prior layers)."""
    layers = [prior.layers(window, members) if members else []
              for prior, members in ((trusted, group.trusted), (candidate, group.candidate))]
    masks = normalise_priors(masks_shape(window), *[np.logical_or.reduce([mask for _, mask in role])
                                                    if role else None for role in layers])
    return masks, [(name, mask) for name, mask in layers[0] + layers[1] if name]


def decide_groups(bands, trusted, candidate, groups, windows, paper, min_area, progress, threads=None):
    """Each prior group in its window, on both cores: [(position, outcome, (trusted pixels, candidate pixels)),
    …] in group order; the outcome is :func:`improved_group`'s, or (:func:`prior_ndpi`'s, the group's named prior
    layers) for the ``paper`` method; on ``threads`` threads (None: :data:`~.parallel.WORKERS`). The thread-local
    band handles end with this call."""
    shared = ThreadBands(bands)
    width = bands.shape[1]

    def decide(position):
        """Read one group's window and decide (improved) or measure (paper) the group. One read per group: GDAL's
        block cache serves neighbours, and far less than the blocks' area is copied."""
        window = windows[position]
        masks, named = group_masks(trusted, candidate, groups[position], window)
        dn = shared.get().read(*window)
        counts = tuple(int(np.count_nonzero(mask)) for mask in masks)
        if paper:
            return position, (prior_ndpi(bands, dn, *masks, window, width), named), counts
        return position, improved_group(bands, dn, *masks, window, min_area, named), counts

    return map_in_threads(decide, range(len(groups)), progress, threads)


def extract_pv_plants(bands, trusted=None, candidate=None, *, method=DEFAULT_METHOD,
                      min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS, choose=None, threads=None):
    """PV plants (a :class:`PlantMap`) from a band source (or DN arrays keyed by role, DN = reflectance × 10000)
    and priors (bool masks or :class:`~.groups.PriorSource` s): ``trusted`` priors are refined, ``candidate`` ones
    confirmed or rejected, by the improved method (:mod:`.improved`, default) or the paper one (:mod:`.paper`).

    The priors are decided group by group (:mod:`.groups`), each group in its own window: memory and work follow
    the priors, not the raster. ``choose(groups)``, when given, returns the groups to decide (the tiles of a
    region, and the workers of a tile, share them out); they are decided on ``threads`` threads (None: both
    cores). Gives the same plants as :func:`fuse` on the whole image.
    Raises :class:`NoValidPixels` when every pixel read around the priors is nodata."""
    bands = band_source(bands)
    shape, width = bands.shape, bands.shape[1]
    trusted, candidate = prior_source(trusted, shape), prior_source(candidate, shape)
    groups = group_priors(trusted, candidate)
    groups = groups if choose is None else choose(groups)
    windows = [group.window(shape) for group in groups]
    paper = method == METHOD_PAPER
    progress.step(0, "Paper method: NDPI at the prior pixels" if paper else
                  "Improved method: prior components against their surroundings")
    decided = decide_groups(bands, trusted, candidate, groups, windows, paper, min_area, progress.span(0, 90),
                            threads)
    progress.step(90, "Describing the plants")
    prior_pixels = tuple(int(sum(item[2][role] for item in decided)) for role in (0, 1))
    if paper:
        gathered = [outcome[0][0] for _, outcome, _ in decided]
        if groups and not sum(outcome[0][1] for _, outcome, _ in decided):
            raise NoValidPixels("The image has no valid pixel where the priors are (all nodata, or B11 ≤ 0).")
        progress.step(92, "Paper method: one NDPI threshold per prior role")
        kept, choices = paper_decisions(gathered)
        found = [plant for (position, (_, named), _), role_gathered, role_kept in zip(decided, gathered, kept)
                 for plant in paper_group_plants(windows[position], masks_shape(windows[position]), role_gathered,
                                                 role_kept, choices, min_area, width, named)]
        decisions, outcomes = role_decisions(*choices), []
    else:
        outcomes = [text for _, (_, texts), _ in decided for text in texts]
        if groups and not outcomes:
            raise NoValidPixels("The image has no valid pixel where the priors are (all nodata, or B11 ≤ 0).")
        found = [plant for _, (plants, _), _ in decided for plant in plants]
        decisions = outcome_counts(outcomes)
    found.sort(key=lambda plant: plant[0])
    for plant_id, (_, plant, _, _) in enumerate(found, start=1):
        plant.plant_id = plant_id
    progress.step(100)
    return PlantMap(shape, [p[1] for p in found], [p[2] for p in found], [p[3] for p in found], decisions,
                    METHOD_NAMES[method], len(groups), outcomes, prior_pixels)


def masks_shape(window):
    """The shape of the arrays of a window (rows, cols slices)."""
    return window[0].stop - window[0].start, window[1].stop - window[1].start
