"""The ANDPI fusion of Zeng et al. 2025 (IJAEOG 145:105005), reproduced exactly.

Within the pixels of a prior, NDPI values form a density histogram (200 bins on [−0.5, 0.5]); peaks are found
with ``scipy.signal.find_peaks(height=2, distance=5, prominence=0.5)`` and the threshold is the centre of the
lowest bin between two of them:

* trusted ("old") priors: between the two right-most peaks; with fewer than two peaks, the mean NDPI of the prior.
  Prior pixels with NDPI ≥ threshold are kept, unless fewer than 80 % would remain: then the whole prior is kept.
* candidate ("new") priors, on pixels not already in a trusted prior: only peaks at NDPI > 0.02 count; with two,
  the valley between them, with more, the valley between the third- and second-right-most; with fewer, nothing
  is accepted.

The union is cleaned of connected components (8-connectivity) of at most ``min_area`` pixels. One histogram per
mode covers the whole image, as published.
"""
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from .components import remove_small_components
from .progress import NO_PROGRESS

HISTOGRAM_BINS = 200
HISTOGRAM_RANGE = (-0.5, 0.5)
PEAK_HEIGHT = 2
PEAK_DISTANCE = 5
PEAK_PROMINENCE = 0.5
CANDIDATE_MIN_PEAK_NDPI = 0.02
TRUSTED_KEEP_RATIO = 0.8
DEFAULT_MIN_AREA_PIXELS = 5

#: Codes of the per-pixel source raster.
SOURCE_TRUSTED = 1
SOURCE_CANDIDATE = 2


@dataclass
class ThresholdChoice:
    """How a threshold was chosen: ``threshold`` is None when nothing is accepted."""
    threshold: float = None
    branch: str = "empty prior"
    peaks: tuple = ()


@dataclass
class PriorResult:
    """Outcome for one prior role: kept pixels and how the threshold was chosen."""
    mask: np.ndarray
    choice: ThresholdChoice
    prior_pixels: int = 0
    kept_whole_prior: bool = False


@dataclass
class FusionResult:
    """Outcome of a fusion, per pixel: PV ``mask`` (bool), ``source`` (1 trusted, 2 candidate, 0 none), the NDPI
    ``threshold`` and ``confidence`` (0–1, NaN where the method gives none) behind each PV pixel, and ``refined``
    (False where a trusted prior was kept unchanged). ``trusted``/``candidate`` hold the paper method's detail."""
    mask: np.ndarray
    source: np.ndarray
    threshold: np.ndarray
    confidence: np.ndarray
    refined: np.ndarray
    trusted: PriorResult = None
    candidate: PriorResult = None


def ndpi_histogram_counts(values):
    """Bin counts (int64, 200 bins on [−0.5, 0.5]) and bin edges of NDPI values; NaN and out-of-range ignored.

    Counts of several chunks of values can be added: binning is per value.
    """
    finite = values[np.isfinite(values)]
    return np.histogram(finite, bins=HISTOGRAM_BINS, range=HISTOGRAM_RANGE)


def histogram_density(counts, edges):
    """Density of a histogram exactly as ``numpy.histogram(density=True)`` computes it."""
    widths = np.asarray(np.diff(edges), dtype=float)
    return counts / widths / counts.sum()


def bin_centres(edges):
    """Centres of the histogram bins."""
    return (edges[:-1] + edges[1:]) / 2


def histogram_peaks(density):
    """Indices of density peaks (ascending) with the published settings."""
    peaks, _ = find_peaks(density, height=PEAK_HEIGHT, distance=PEAK_DISTANCE, prominence=PEAK_PROMINENCE)
    return np.sort(peaks)


def valley_between(density, left_peak, right_peak):
    """Index of the lowest bin strictly between two peaks (the first one on ties)."""
    start = left_peak + 1
    return start + int(np.argmin(density[start:right_peak]))


def trusted_threshold(counts, edges, prior_mean):
    """Threshold for a trusted prior: the valley between the two right-most peaks, else the prior's mean NDPI."""
    if counts.sum() == 0:
        return ThresholdChoice(float(prior_mean) if np.isfinite(prior_mean) else None, "no NDPI in histogram range")
    density = histogram_density(counts, edges)
    peaks = histogram_peaks(density)
    centres = bin_centres(edges)
    if len(peaks) >= 2:
        valley = valley_between(density, peaks[-2], peaks[-1])
        return ThresholdChoice(float(centres[valley]), "valley between the two right-most peaks",
                               tuple(float(centres[p]) for p in peaks))
    return ThresholdChoice(float(prior_mean), "mean NDPI (fewer than two peaks)",
                           tuple(float(centres[p]) for p in peaks))


def candidate_threshold(counts, edges):
    """Threshold for candidate pixels from the peaks above NDPI 0.02; None (nothing accepted) with fewer than two."""
    if counts.sum() == 0:
        return ThresholdChoice(None, "no NDPI in histogram range")
    density = histogram_density(counts, edges)
    centres = bin_centres(edges)
    peaks = [p for p in histogram_peaks(density) if centres[p] > CANDIDATE_MIN_PEAK_NDPI]
    peak_positions = tuple(float(centres[p]) for p in peaks)
    if len(peaks) > 2:
        valley = valley_between(density, peaks[-3], peaks[-2])
        return ThresholdChoice(float(centres[valley]), "valley between the third- and second-right-most peaks",
                               peak_positions)
    if len(peaks) == 2:
        valley = valley_between(density, peaks[-2], peaks[-1])
        return ThresholdChoice(float(centres[valley]), "valley between the two peaks", peak_positions)
    return ThresholdChoice(None, "fewer than two peaks above NDPI %.2f" % CANDIDATE_MIN_PEAK_NDPI, peak_positions)


def _above(index, prior, threshold):
    """Prior pixels with NDPI ≥ threshold (NaN never passes)."""
    if threshold is None:
        return np.zeros(prior.shape, bool)
    with np.errstate(invalid="ignore"):
        return prior & (index >= threshold)


def refine_trusted(index, prior):
    """Trusted mode on NDPI ``index`` (float64, NaN = invalid) within bool ``prior``."""
    values = index[prior & np.isfinite(index)]
    counts, edges = ndpi_histogram_counts(values)
    choice = trusted_threshold(counts, edges, values.mean() if values.size else np.nan)
    kept = _above(index, prior, choice.threshold)
    prior_pixels = int(np.count_nonzero(prior))
    whole = prior_pixels > 0 and np.count_nonzero(kept) < TRUSTED_KEEP_RATIO * prior_pixels
    return PriorResult(prior.copy() if whole else kept, choice, prior_pixels, bool(whole))


def confirm_candidates(index, candidates):
    """Candidate mode on NDPI ``index`` within bool ``candidates`` (pixels not in a trusted prior)."""
    counts, edges = ndpi_histogram_counts(index[candidates])
    choice = candidate_threshold(counts, edges)
    return PriorResult(_above(index, candidates, choice.threshold), choice, int(np.count_nonzero(candidates)))


def paper_fusion(index, trusted=None, candidate=None, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """Fuse trusted and candidate prior masks (bool) with NDPI ``index`` (float64, NaN = invalid).

    Returns a :class:`FusionResult`; its ``mask`` has components of at most ``min_area`` pixels removed.
    """
    shape = index.shape
    trusted = np.zeros(shape, bool) if trusted is None else trusted.astype(bool, copy=False)
    candidate = np.zeros(shape, bool) if candidate is None else candidate.astype(bool, copy=False)
    progress.step(0, "Refining trusted priors (paper method)")
    trusted_result = refine_trusted(index, trusted)
    progress.step(40, "Confirming candidate priors (paper method)")
    candidate_result = confirm_candidates(index, candidate & ~trusted)
    progress.step(70, "Removing components of at most %d pixels" % min_area)
    source = np.zeros(shape, np.uint8)
    source[candidate_result.mask] = SOURCE_CANDIDATE
    source[trusted_result.mask] = SOURCE_TRUSTED
    mask = remove_small_components(source > 0, min_area)
    source[~mask] = 0
    threshold = np.full(shape, np.nan, np.float32)
    for result, code in ((trusted_result, SOURCE_TRUSTED), (candidate_result, SOURCE_CANDIDATE)):
        if result.choice.threshold is not None:
            threshold[source == code] = result.choice.threshold
    refined = mask & ~((source == SOURCE_TRUSTED) & trusted_result.kept_whole_prior)
    progress.step(100)
    return FusionResult(mask, source, threshold, np.full(shape, np.nan, np.float32), refined,
                        trusted_result, candidate_result)
