"""Extract PV plants from a Sentinel-2 band source and prior masks: the whole pipeline, window by window.

inputs (a band source and bool prior masks) → fusion (:mod:`.paper` or :mod:`.improved`) → plants (:mod:`.plants`).
"""
from dataclasses import dataclass

import numpy as np

from .bandsource import band_source
from .fusion import DEFAULT_MIN_AREA_PIXELS, FusionResult, normalise_priors
from .improved import improved_fusion
from .paper import paper_fusion_sparse
from .parallel import ThreadBands, map_in_threads
from .plants import describe_plants
from .progress import NO_PROGRESS
from .windows import flat_indices, occupied_windows, read_shape

METHOD_PAPER = 0
METHOD_IMPROVED = 1
METHOD_NAMES = {METHOD_PAPER: "paper", METHOD_IMPROVED: "improved"}
DEFAULT_METHOD = METHOD_IMPROVED


class NoValidPixels(ValueError):
    """The image has no valid pixel where the priors are."""


@dataclass
class PlantMap:
    """Result of :func:`extract_pv_plants`: plant labels (int32, 0 = none), plant attributes, the window of each
    plant (slices), and the fusion detail."""
    labels: np.ndarray
    plants: list
    windows: list
    fusion: FusionResult
    method: str


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


def extract_pv_plants(bands, trusted=None, candidate=None, *, method=DEFAULT_METHOD,
                      min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """:func:`fuse`, then one plant per connected component with its attributes (a :class:`PlantMap`)."""
    fusion = fuse(bands, trusted, candidate, method=method, min_area=min_area, progress=progress.span(0, 85))
    progress.step(85, "Labelling plants")
    plants, windows = describe_plants(fusion)
    progress.step(100)
    return PlantMap(fusion.labels, plants, windows, fusion, METHOD_NAMES[method])
