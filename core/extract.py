"""Extract PV plants from a Sentinel-2 band source and prior masks: the whole pipeline, window by window."""
from dataclasses import dataclass

import numpy as np

from .andpi import ndpi_from_dn
from .bandsource import READ_TARGET, ArrayBands, flat_indices, occupied_windows, read_shape
from .fusion_result import FusionResult
from .improved import improved_fusion
from .parallel import ThreadBands, map_in_threads
from .paper import DEFAULT_MIN_AREA_PIXELS, paper_fusion_sparse
from .plants import describe_plants
from .progress import NO_PROGRESS

METHOD_PAPER = 0
METHOD_IMPROVED = 1
METHOD_NAMES = {METHOD_PAPER: "paper", METHOD_IMPROVED: "improved"}


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


def gather_prior_ndpi(bands, masks, scale=10000.0, offset=0.0, progress=NO_PROGRESS):
    """NDPI (float64, NaN = invalid) at the True pixels of each bool mask: [(flat indices, values), …] in
    row-major order, the number of valid pixels read, and the number of windows read. Only the block-aligned
    windows that hold prior pixels are read, on both cores."""
    shape = bands.shape
    union = np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]
    windows = occupied_windows(union, read_shape(bands.block_shape, shape, getattr(bands, "read_target",
                                                                                     READ_TARGET)))
    shared = ThreadBands(bands)

    def at_priors(window):
        """NDPI at the prior pixels of one window, per mask, and the count of valid ones."""
        wanted = union[window]
        dn = {role: band[wanted] for role, band in shared.get().read(*window).items()}
        index, valid = ndpi_from_dn(dn, scale, offset, bands.nodata_by_role)  # at the prior pixels only
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


def fuse(bands, trusted=None, candidate=None, scale=10000.0, offset=0.0, nodata_by_role=None, method=METHOD_PAPER,
         min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """Fused PV map (a :class:`~.fusion_result.FusionResult`) from a band source (or DN arrays keyed by role) and
    bool prior masks: ``trusted`` priors are refined, ``candidate`` priors confirmed or rejected, by the paper
    method (:mod:`.paper`) or the improved one (:mod:`.improved`). Raises :class:`NoValidPixels` when every pixel
    read around the priors is nodata."""
    if isinstance(bands, dict):
        bands = ArrayBands(bands, nodata_by_role)
    shape = bands.shape
    trusted = np.zeros(shape, bool) if trusted is None else np.asarray(trusted, bool)
    candidate = np.zeros(shape, bool) if candidate is None else np.asarray(candidate, bool)
    if (candidate & trusted).any():  # candidates are the pixels not already in a trusted prior
        candidate = candidate & ~trusted
    if method == METHOD_PAPER:
        progress.step(0, "Paper method: NDPI at the prior pixels")
        (trusted_ndpi, candidate_ndpi), valid_read, windows = gather_prior_ndpi(
            bands, [trusted, candidate], scale, offset, progress.span(0, 60))
        if windows and not valid_read:
            raise NoValidPixels("The image has no valid pixel where the priors are (all nodata, or B11 ≤ 0).")
        return paper_fusion_sparse(shape, trusted_ndpi, candidate_ndpi, min_area, progress.span(60, 100))
    progress.step(0, "Improved method: prior components against their surroundings")
    fusion = improved_fusion(bands, trusted, candidate, scale, offset, min_area, progress)
    if (trusted.any() or candidate.any()) and not fusion.components:
        raise NoValidPixels("The image has no valid pixel where the priors are (all nodata, or B11 ≤ 0).")
    return fusion


def extract_pv_plants(bands, trusted=None, candidate=None, scale=10000.0, offset=0.0, nodata_by_role=None,
                      method=METHOD_PAPER, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """:func:`fuse`, then one plant per connected component with its attributes (a :class:`PlantMap`)."""
    fusion = fuse(bands, trusted, candidate, scale, offset, nodata_by_role, method, min_area, progress.span(0, 85))
    progress.step(85, "Labelling plants")
    labels, plants, windows = describe_plants(fusion)
    progress.step(100)
    return PlantMap(labels, plants, windows, fusion, METHOD_NAMES[method])
