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

from .fusion import DEFAULT_MIN_AREA_PIXELS, SOURCE_CANDIDATE, SOURCE_TRUSTED, fused_result, normalise_priors
from .progress import NO_PROGRESS

HISTOGRAM_BINS = 200
HISTOGRAM_RANGE = (-0.5, 0.5)
PEAK_HEIGHT = 2
PEAK_DISTANCE = 5
PEAK_PROMINENCE = 0.5
CANDIDATE_MIN_PEAK_NDPI = 0.02
TRUSTED_KEEP_RATIO = 0.8


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
    #: Every prior pixel of the role kept (the whole-prior guard, or every pixel at or above the threshold): the
    #: method did not change the priors' outlines, so their plants are not ``refined``.
    kept_every_pixel: bool = True


def refined_by_role(trusted, candidate):
    """``refined`` per source code (background, trusted, candidate) from the two roles' :class:`PriorResult`: a
    role's plants are refined when the method dropped any of its prior pixels (the paper method never adds)."""
    return [False, not trusted.kept_every_pixel, not candidate.kept_every_pixel]


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
    from scipy.signal import find_peaks  # imported on use: scipy.signal is slow to load with QGIS
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


def _at_or_above(values, threshold):
    """Which NDPI values reach ``threshold`` (NaN never does; a None threshold accepts nothing)."""
    if threshold is None:
        return np.zeros(values.shape, bool)
    with np.errstate(invalid="ignore"):
        return values >= threshold


def refine_trusted_values(values):
    """Trusted mode on the NDPI of a prior's pixels (row-major order, NaN = invalid): (kept bool, choice, whole)."""
    finite = values[np.isfinite(values)]
    counts, edges = ndpi_histogram_counts(finite)
    choice = trusted_threshold(counts, edges, finite.mean() if finite.size else np.nan)
    kept = _at_or_above(values, choice.threshold)
    whole = values.size > 0 and np.count_nonzero(kept) < TRUSTED_KEEP_RATIO * values.size
    return (np.ones(values.shape, bool) if whole else kept), choice, bool(whole)


def confirm_candidate_values(values):
    """Candidate mode on the NDPI of candidate pixels (NaN = invalid): (kept bool, choice)."""
    choice = candidate_threshold(*ndpi_histogram_counts(values))
    return _at_or_above(values, choice.threshold), choice


def paper_fusion_sparse(shape, trusted, candidate, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """The paper method from the NDPI of the prior pixels only.

    ``trusted`` and ``candidate`` are (flat indices, NDPI values) pairs in row-major order (NaN = invalid pixel);
    candidate pixels must exclude trusted ones. Returns a :class:`~.fusion.FusionResult` on a raster of
    ``shape``. Equal to :func:`paper_fusion` on the whole image: the histograms and the mean see the same values
    in the same order.
    """
    progress.step(0, "Refining trusted priors (paper method)")
    trusted_kept, trusted_choice, whole = refine_trusted_values(trusted[1])
    progress.step(40, "Confirming candidate priors (paper method)")
    candidate_kept, candidate_choice = confirm_candidate_values(candidate[1])
    progress.step(70, "Removing components of at most %d pixels" % min_area)
    source = np.zeros(shape, np.uint8)
    source.flat[candidate[0][candidate_kept]] = SOURCE_CANDIDATE
    source.flat[trusted[0][trusted_kept]] = SOURCE_TRUSTED
    trusted_result = PriorResult(None, trusted_choice, int(trusted[0].size), whole, bool(trusted_kept.all()))
    candidate_result = PriorResult(None, candidate_choice, int(candidate[0].size),
                                   kept_every_pixel=bool(candidate_kept.all()))
    nan = float("nan")
    thresholds = [nan] + [nan if c.threshold is None else c.threshold for c in (trusted_choice, candidate_choice)]
    result = fused_result(source, min_area, lambda pixels: source.ravel()[pixels].astype(np.int32), thresholds,
                          [nan] * 3, refined_by_role(trusted_result, candidate_result), trusted=trusted_result,
                          candidate=candidate_result,
                          decisions=role_decisions(trusted_result, candidate_result))
    progress.step(100)
    return result


def role_decisions(trusted, candidate):
    """One line per prior role that has pixels: how many, the NDPI threshold and how it was chosen."""
    lines = []
    for role, result in (("Trusted", trusted), ("Candidate", candidate)):
        if result.prior_pixels:
            threshold = "none" if result.choice.threshold is None else "%.4f" % result.choice.threshold
            whole = "; fewer than %d %% kept, so the prior is kept whole" % round(100 * TRUSTED_KEEP_RATIO)
            lines.append("%s priors: %d px, NDPI threshold %s (%s)%s" % (
                role, result.prior_pixels, threshold, result.choice.branch, whole if result.kept_whole_prior else ""))
    return lines


def paper_fusion(index, trusted=None, candidate=None, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """Fuse trusted and candidate prior masks (bool) with the NDPI ``index`` of the whole image (NaN = invalid).

    Returns a :class:`~.fusion.FusionResult`; its ``mask`` has components of at most ``min_area`` pixels
    removed.
    """
    shape = index.shape
    trusted, candidate = normalise_priors(shape, trusted, candidate)
    values = index.ravel()
    trusted_flat = np.flatnonzero(trusted)
    candidate_flat = np.flatnonzero(candidate)
    return paper_fusion_sparse(shape, (trusted_flat, values[trusted_flat]), (candidate_flat, values[candidate_flat]),
                               min_area, progress)
