"""The improved fusion of Fusion PV Mapping (our method, not the paper's).

Zeng et al.'s paper method uses one NDPI histogram for the whole image, fixed peak settings and an 80 % guard;
on real European plants it never refines a trusted prior and rejects a third of real plants as candidates. This
method uses the prior itself as a noisy label, plant by plant:

1. **Per prior component** (8-connected, parts at most 2 px apart taken together: one plant drawn as several
   polygons is decided as a whole), a *core* (the component eroded by 2 px, or less for small ones) is taken as
   PV and a *background ring* (2–3 px outside it, valid pixels in no prior) as not PV.
2. **Unmixing**: on the six reflectances (B2, B3, B4, B8, B11, B12), a regularised Fisher discriminant between
   core and ring gives a direction along which each pixel's score is linear in its PV fraction; scaled so that
   the median core pixel is 1 and the median ring pixel 0, the score estimates the PV fraction ``f`` of a pixel.
3. **Peel**: the outer layer of the component (pixels with a neighbour outside it) is peeled while its median
   ``f`` is below :data:`PEEL_FRACTION` (at most :data:`MAX_PEEL` layers); of a peeled layer, pixels whose ``f``
   (averaged with their neighbours' in the layer) reaches :data:`KEEP_FRACTION` stay. Sentinel-2's point spread
   blurs edges, so the edge pixels of a correct outline drawn with the pixel-centre rule have a median ``f`` of
   about 0.5 and the first pixels outside it about 0.15 (measured on the Austrian chips); 0.3 separates the two.
   Deciding per layer rather than per pixel keeps a correct prior whole while trimming an over-extended one.
4. **Grow**: an outline that was not peeled grows side by side (top, bottom, left, right) into free pixels whose
   layer looks like PV (median ``f`` ≥ :data:`GROW_FRACTION`, at most :data:`MAX_GROW` layers), so a prior that
   misses part of its plant recovers it. 0.7 lies well above the ≈ 0.15 just outside a correct outline. Growth
   that runs into the image edge or nodata cannot be checked and is undone.
   A prior whose core NDPI barely separates from its ring (confidence < :data:`MIN_PEEL_CONFIDENCE`) is neither
   peeled nor grown: the evidence is too weak to change it.
   **Point spread.** The fractions are modelled as the outline blurred by Sentinel-2's point spread (a Gaussian of
   :data:`PSF_SIGMA` px) with a fitted offset and scale. Through the blur the first pixels outside a plant often
   look half PV, so the first layer is also peeled when the outline without it fits clearly better
   (:data:`PEEL_EVIDENCE`); an outline that neither peels nor grows moves by one pixel when the moved outline fits
   clearly better (:data:`SHIFT_EVIDENCE`, a misregistered prior). A prior drawn on a coarser grid (20 or 30 m
   blocks, :func:`coarse_block`) places its edges only to a block: each of its outer pixels stays only when its
   smoothed fraction reaches :data:`COARSE_KEEP_FRACTION`.
5. **Candidates** are first tested for plausibility against their ring. Water is rejected (median MNDWI of the
   core ≥ 0). A candidate passes when its NDPI is clearly higher (AUC ≥ :data:`STRONG_NDPI_AUC`), or when it
   shows two of four PV signals: higher NDPI (AUC ≥ :data:`MIN_NDPI_AUC`); darker in NIR (median B8 at least
   :data:`MIN_NIR_DROP` below the ring's); a blue peak (median B2 at least :data:`MIN_BLUE_RISE` above the ring's
   and rising at least as much as B4); much bluer relative to red than the ring
   (:data:`DARK_BLUE_RED_GAIN`). PV panels reflect more in SWIR1 than in NIR and SWIR2 (Zeng et al. 2025),
   absorb in NIR and have a reflectance peak at 400–500 nm from their glass and cells (He et al. 2026, SPPI),
   whereas soil, roofs and roads brighten more in red than in blue; a core much redder than blue (median B4 ≥
   :data:`MAX_RED_BLUE_RATIO` × B2) is bare soil and rejected. Every candidate must also be bluer relative to red
   than its ring (B2/B4 gain ≥ :data:`MIN_BLUE_RED_GAIN`) unless NDPI and NIR are decisive
   (:data:`DECISIVE_NDPI_AUC`, :data:`DECISIVE_NIR_DROP`). A plant in bright surroundings (bare soil, gravel,
   roofs) may be no higher in NDPI, no darker in NIR or no brighter in blue than its ring, but it stays much bluer
   relative to red. Farmland, forest, towns and water show at most one of these signals.
   :func:`pv_evidence` is the same test made continuous (0–1, at least 0.5 exactly when it passes). Candidates
   that pass are outlined as in steps 3 and 4.

Each plant gets a ``confidence`` (0–1): how well NDPI separates its core from its ring (2·AUC − 1, clipped), and
a per-plant NDPI ``threshold``: the NDPI of a pixel that is :data:`PEEL_FRACTION` PV between its core and ring
medians.
"""
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .bands import ROLES
from .components import dilate, erode, label_components
from .fusion import DEFAULT_MIN_AREA_PIXELS, SOURCE_CANDIDATE, SOURCE_TRUSTED, fused_result
from .parallel import ThreadBands, map_in_threads
from .windows import flat_indices, group_windows, grown_window, sub_window
from .progress import NO_PROGRESS

PEEL_FRACTION = 0.3
KEEP_FRACTION = 0.4
MAX_PEEL = 2
GROW_FRACTION = 0.7
MAX_GROW = 4
MIN_PEEL_CONFIDENCE = 0.3
MIN_NIR_DROP = 0.05
MIN_NDPI_AUC = 0.6
STRONG_NDPI_AUC = 0.8
MIN_BLUE_RISE = 0.002
#: A candidate core whose median B4 is at least this many times its median B2 is bare soil (or a red roof), not PV:
#: PV reflects about as much in blue as in red (B4/B2 of 0.7–1.4 on the Austrian plants through 2022), bare
#: fields 1.5–2.1.
MAX_RED_BLUE_RATIO = 1.5
#: A candidate that is not clearly higher in NDPI must show this many of the four PV signals.
MIN_PV_SIGNALS = 2
#: Every candidate must be bluer relative to red than its surroundings: its median B2/B4 at least this many times
#: the ring's (:func:`blue_red_gain`). PV glass and cells peak at 400–500 nm; on the Austrian plants through 2022
#: the gain is 1.07–1.68 (10th–90th percentile) whatever the season, while farmland, forest and towns show 0.95–1.05.
#: A ratio of ratios, it holds for dark plants in bright surroundings and for top-of-atmosphere (L1C) images alike.
MIN_BLUE_RED_GAIN = 1.05
#: A candidate that is not bluer than its surroundings (a plant in lush summer vegetation, whose ring is as blue
#: relative to red as the panels) passes only on decisive evidence: NDPI AUC ≥ DECISIVE_NDPI_AUC and NIR at least
#: DECISIVE_NIR_DROP (relative) below the ring's. On the Austrian dates 67 % of such plants pass, 2 of 1792 non-PV
#: placements on the Virginia scene.
DECISIVE_NDPI_AUC = 0.9
DECISIVE_NIR_DROP = 0.2
#: A candidate at least this many times bluer relative to red than its ring (B2/B4 gain) shows a PV signal of its own
#: (*much bluer*): a plant in bright surroundings (bare soil, gravel, roofs) may show no other signal but one. 23
#: Austrian plants' 2022 medians placed in the village of the Flanders series passed 166 of 177 times with the three
#: other signals alone, 177 with this one; non-PV candidates on the Virginia scene stay at 1.8 %.
DARK_BLUE_RED_GAIN = 1.2
MIN_CORE_PIXELS = 10
MIN_RING_PIXELS = 8
#: Erosions tried, in order, to take the core of a component (the first that leaves MIN_CORE_PIXELS).
CORE_EROSIONS = (2, 1)
#: The background ring lies this many pixels (8-neighbourhood steps) outside the component, inner to outer.
RING_INNER, RING_OUTER = 1, 3
#: Ridge added to the pooled scatter of the Fisher discriminant, as a share of its mean variance.
FISHER_RIDGE = 0.05
#: Weight of a pixel's own PV fraction against its layer's local mean in :func:`smoothed`.
OWN_WEIGHT = 0.5
#: Window margin around a component, in pixels: room for the ring (and the pixel beyond it) and for growth.
MARGIN = RING_OUTER + 1 + MAX_GROW
#: Parts of a prior closer than twice this (pixels) are one component.
CLUSTER_REACH = 1
#: Sentinel-2's point spread, widened by the co-registration of the dates behind a composite, as the standard
#: deviation (10 m pixels) of a Gaussian: the PV fraction of a plant is modelled as its outline blurred by it. 0.9
#: fits the Austrian chips' fractions best, on the clear-sky medians and on single dates alike (RMSE flat within
#: 1 % from 0.8 to 1.0).
PSF_SIGMA = 0.9
#: An outer layer whose median fraction is not below PEEL_FRACTION is still peeled when the blurred outline without
#: it explains the fractions better by this much (:func:`outline_evidence`): the pixels just outside a plant often
#: look half PV through the point spread.
PEEL_EVIDENCE = 55
#: A whole outline moves by one pixel (a misregistered prior) when the moved outline explains the fractions better
#: by this much.
SHIFT_EVIDENCE = 100
#: Block sizes (pixels) of the coarser grids a prior may be drawn on (30 m and 20 m products on the 10 m grid).
COARSE_BLOCKS = (3, 2)
#: A prior drawn on a coarser grid places its edges only to a block, so each pixel of its outer layer stays only when
#: its smoothed PV fraction reaches this.
COARSE_KEEP_FRACTION = 0.3


@dataclass
class ComponentResult:
    """Outcome for one prior component: kept pixels (window coordinates) and the numbers behind it."""
    kept: np.ndarray
    confidence: float = float("nan")
    threshold: float = float("nan")
    peeled: int = 0
    grown: int = 0
    #: 1 when the whole outline moved by a pixel.
    shifted: int = 0
    accepted: bool = True
    reason: str = ""
    refined: bool = False
    #: Why a candidate was taken for PV (the signals it showed); empty for trusted priors.
    evidence: str = ""
    #: True when the image cannot tell (no background to compare with).
    undecided: bool = False


def median(values):
    """Median of a 1-D float array (NaN when it holds a NaN or is empty), as ``np.median`` gives it, without its
    per-call overhead: components call it thousands of times per tile."""
    count = values.size
    if not count or np.isnan(values).any():
        return np.nan
    middle = count // 2
    if count % 2:
        return np.partition(values, middle)[middle]
    below, above = np.partition(values, (middle - 1, middle))[middle - 1:middle + 1]
    return (below + above) * values.dtype.type(0.5)  # exact, like dividing by 2, in the array's own type


def core_and_ring(component, free):
    """Core (PV-like) and background ring (not-PV-like) of a component; ``free`` = valid pixels in no prior."""
    core = component
    for iterations in CORE_EROSIONS:
        eroded = erode(component, iterations)
        if np.count_nonzero(eroded) >= MIN_CORE_PIXELS:
            core = eroded
            break
    near = dilate(component, RING_INNER)
    far = dilate(component, RING_OUTER)
    ring = far & ~near & free
    if np.count_nonzero(ring) < MIN_RING_PIXELS:
        ring = far & ~component & free
    return core, ring


def pv_fraction(reflectance, core, ring):
    """Estimated PV fraction of every pixel of a window (1 = like the core median, 0 = like the ring median).

    ``reflectance`` is (rows, cols, 6) in B2, B3, B4, B8, B11, B12 order. Returns None when core and ring cannot be
    told apart (identical medians).
    """
    inside, outside = reflectance[core], reflectance[ring]
    centred = np.vstack([inside - inside.mean(axis=0), outside - outside.mean(axis=0)])
    scatter = np.cov(centred.T)
    scatter += np.eye(scatter.shape[0]) * FISHER_RIDGE * np.trace(scatter) / scatter.shape[0]
    pv_median, background_median = np.median(inside, axis=0), np.median(outside, axis=0)
    direction = np.linalg.solve(scatter, pv_median - background_median)
    span = (pv_median - background_median) @ direction
    if not np.isfinite(span) or span <= 0:
        return None
    return (reflectance - background_median) @ direction / span


#: Position of each role in the last axis of a reflectance window (see ``BandSource.reflectance``).
BLUE, GREEN, RED, NIR, SWIR1, SWIR2 = (ROLES.index(role) for role in ("BLUE", "GREEN", "RED", "NIR", "SWIR1",
                                                                        "SWIR2"))

#: The four sides of an outline, as the (row, column) step from a pixel beyond a side back to the outline.
SIDES = ((-1, 0), (1, 0), (0, -1), (0, 1))


def neighbour(mask, step):
    """``mask`` seen from each pixel's neighbour one ``step`` away (False beyond the array)."""
    rows, cols = step
    moved = np.zeros_like(mask)
    height, width = mask.shape
    moved[max(-rows, 0):height - max(rows, 0), max(-cols, 0):width - max(cols, 0)] = \
        mask[max(rows, 0):height - max(-rows, 0), max(cols, 0):width - max(-cols, 0)]
    return moved


def layers_beyond(mask, outside):
    """Per side of ``mask`` (bottom, top, right, left): the ``outside`` pixels just across that side."""
    return [outside & neighbour(mask, step) for step in SIDES]


def layer_mean(values, layer):
    """Mean of ``values`` over each pixel's 3 × 3 neighbours that belong to ``layer``."""
    kernel = np.ones((3, 3))
    total = ndimage.convolve(np.where(layer, values, 0.0), kernel, mode="constant")
    count = ndimage.convolve(layer.astype(float), kernel, mode="constant")
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def smoothed(fraction, layer):
    """PV fraction of a layer's pixels averaged with the layer's local mean (damps single-pixel noise)."""
    return OWN_WEIGHT * fraction + (1 - OWN_WEIGHT) * layer_mean(fraction, layer)


def outer_layer(mask, valid):
    """Pixels of ``mask`` next to (8-neighbourhood) a valid pixel outside it. Beyond the array and nodata count
    as unknown, so a plant cut by the image edge or by nodata is not peeled there."""
    return mask & dilate(valid & ~mask)


def changed(result):
    """Did the improved method change the prior component of a :class:`ComponentResult`?"""
    return bool(result.peeled or result.grown or result.shifted)


def peel(component, fraction, valid, free):
    """Peel outer layers that look like background: of such a layer, the pixels whose smoothed fraction is below
    :data:`KEEP_FRACTION` go. A layer looks like background when its median PV fraction is below
    :data:`PEEL_FRACTION`; the first also when the outline without it explains the fractions better (evidence ≥
    :data:`PEEL_EVIDENCE`). A prior drawn on a coarser grid first loses the pixels of its outer layer below
    :data:`COARSE_KEEP_FRACTION`. Returns (kept, layers peeled)."""
    kept, layers = component.copy(), 0
    if coarse_block(component) > 1:
        layer = outer_layer(kept, valid)
        kept &= ~(layer & (smoothed(fraction, layer) < COARSE_KEEP_FRACTION))
        layers = 1
    for step in range(MAX_PEEL):
        layer = outer_layer(kept, valid)
        if layer.all() or not layer.any():
            break
        looks_outside = median(fraction[layer]) < PEEL_FRACTION or (step == 0 and outline_evidence(
            fraction, kept, [kept & ~layer], outline_band(component, valid, free))[0] >= PEEL_EVIDENCE)
        if not looks_outside:
            break
        kept &= ~(layer & (smoothed(fraction, layer) < KEEP_FRACTION))
        layers += 1
    return kept, layers


def coarse_block(mask):
    """The block size of :data:`COARSE_BLOCKS` whose grid ``mask`` is drawn on (each block wholly in or out, for
    some alignment), or 1. A filled rectangle could be drawn on any grid, so it gets 1."""
    rows, cols = np.nonzero(mask)
    if not rows.size or rows.size == (np.ptp(rows) + 1) * (np.ptp(cols) + 1):
        return 1
    for size in COARSE_BLOCKS:
        for row_offset in range(size):
            for col_offset in range(size):
                padded = np.pad(mask, ((row_offset, -(mask.shape[0] + row_offset) % size),
                                       (col_offset, -(mask.shape[1] + col_offset) % size)))
                counts = padded.reshape(padded.shape[0] // size, size, padded.shape[1] // size, size).sum(axis=(1, 3))
                if ((counts == 0) | (counts == size * size)).all():
                    return size
    return 1


def outline_band(component, valid, free):
    """Pixels where an outline is compared with the PV fractions: within :data:`RING_OUTER` px of the component,
    valid, and in no other prior."""
    return dilate(component, RING_OUTER) & valid & (free | component)


def outline_misfit(fraction, outline, band):
    """Squared residual over ``band`` of the PV fractions fitted (least squares, offset and positive scale) by the
    outline blurred with Sentinel-2's point spread (:data:`PSF_SIGMA`); inf when the fit needs a negative scale."""
    blurred = ndimage.gaussian_filter(outline.astype(float), PSF_SIGMA, mode="nearest")[band]
    design = np.stack([np.ones(blurred.size), blurred], axis=1)
    coefficients = np.linalg.lstsq(design, fraction[band], rcond=None)[0]
    if not coefficients[1] > 0:
        return np.inf
    residual = fraction[band] - design @ coefficients
    return float(residual @ residual)


def outline_evidence(fraction, before, afters, band):
    """How much better each outline of ``afters`` explains the PV fractions than ``before``: the drop of
    :func:`outline_misfit` in units of ``before``'s mean squared residual per pixel (``before`` is fitted once)."""
    misfit = outline_misfit(fraction, before, band)
    if not np.isfinite(misfit) or misfit == 0:
        return [0.0] * len(afters)
    return [(misfit - outline_misfit(fraction, after, band)) * np.count_nonzero(band) / misfit for after in afters]


def shift(kept, fraction, free, valid):
    """Move the whole outline by one pixel (up, down, left or right) when the moved outline explains the PV fractions
    better by at least :data:`SHIFT_EVIDENCE` (the best move wins). A move onto nodata, beyond the image or onto
    another prior is not tried. Returns (kept, 1 if moved else 0)."""
    trials = [neighbour(kept, step) for step in SIDES]
    trials = [trial for trial in trials
              if np.count_nonzero(trial) == np.count_nonzero(kept) and not (trial & ~kept & ~free).any()]
    if not trials:
        return kept, 0
    evidence = outline_evidence(fraction, kept, trials, outline_band(kept, valid, free))
    best = int(np.argmax(evidence))
    return (trials[best], 1) if evidence[best] >= SHIFT_EVIDENCE else (kept, 0)


def grow(kept, fraction, free, valid):
    """Grow each side of the outline into the ``free`` pixels beyond it while that layer looks like PV (median
    fraction at least :data:`GROW_FRACTION`); of such a layer, pixels whose smoothed fraction reaches
    :data:`GROW_FRACTION` join. At most :data:`MAX_GROW` layers. Growth that reaches the unknown (the image edge
    or nodata) cannot be checked and is undone. Returns (kept, layers grown)."""
    grown, layers = kept, 0
    while layers < MAX_GROW:
        add = np.zeros_like(kept)
        for beyond in layers_beyond(grown, free & ~grown):
            if beyond.any() and median(fraction[beyond]) >= GROW_FRACTION:
                add |= beyond & (smoothed(fraction, beyond) >= GROW_FRACTION)
        if not add.any():
            break
        grown, layers = grown | add, layers + 1
    if layers and (grown & ~kept & next_to_unknown(valid)).any():
        return kept, 0
    return grown, layers


def next_to_unknown(valid):
    """Pixels with a neighbour (8-neighbourhood) that is nodata or beyond the array."""
    padded = np.pad(valid, 1, constant_values=False)
    return dilate(~padded)[1:-1, 1:-1]


def ndpi_auc(index, core, ring):
    """Probability that a core pixel has a higher NDPI than a ring pixel (ties count half)."""
    inside, outside = np.sort(index[core]), np.sort(index[ring])
    below = np.searchsorted(outside, inside, side="left")
    at_or_below = np.searchsorted(outside, inside, side="right")
    return float((below + at_or_below).sum() / (2.0 * inside.size * outside.size))


def blue_peak(reflectance, core, ring):
    """Does the core show the blue reflectance peak of PV glass against its ring? Its median B2 is at least
    :data:`MIN_BLUE_RISE` above the ring's and rises at least as much as its B4 (soil, roofs and roads brighten
    more in red than in blue)."""
    blue_rise, red_rise = rises(reflectance, core, ring, (BLUE, RED))
    return blue_rise >= MIN_BLUE_RISE and blue_rise >= red_rise


def rises(reflectance, core, ring, bands):
    """How much brighter the core is than its ring (difference of medians) in each of ``bands``."""
    return [median(reflectance[..., band][core]) - median(reflectance[..., band][ring]) for band in bands]


def relative_drop(reflectance, core, ring, band):
    """How much darker the core is than its ring in ``band``: (ring − core) / ring of their medians (NaN when the
    ring's median is not positive)."""
    ring_value = median(reflectance[..., band][ring])
    if not ring_value > 0:
        return float("nan")
    return float((ring_value - median(reflectance[..., band][core])) / ring_value)


def blue_red_gain(reflectance, core, ring):
    """The core's median B2/B4 divided by its ring's: above 1 when the core is bluer relative to red than its
    surroundings (NaN when a median is not positive)."""
    medians = [median(reflectance[..., band][pixels]) for pixels in (core, ring) for band in (BLUE, RED)]
    if min(medians) <= 0:
        return float("nan")
    core_blue, core_red, ring_blue, ring_red = medians
    return float((core_blue / core_red) / (ring_blue / ring_red))


def plausible_pv(reflectance, core, ring, auc, higher_ndpi):
    """(passes, reason): is the core PV-like compared with its ring? Not water, not bare soil, bluer relative to red
    than the ring (:data:`MIN_BLUE_RED_GAIN`), and then either NDPI clearly higher (AUC ≥ :data:`STRONG_NDPI_AUC`),
    or two of four PV signals: higher NDPI (AUC ≥ :data:`MIN_NDPI_AUC`), darker in NIR, a blue peak, much bluer
    relative to red (:data:`DARK_BLUE_RED_GAIN`).
    ``auc`` is :func:`ndpi_auc` of core and ring, ``higher_ndpi`` whether the core's median NDPI is above the
    ring's."""
    green, swir1 = reflectance[core][:, GREEN], reflectance[core][:, SWIR1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mndwi = (green - swir1) / (green + swir1)
    if median(mndwi) >= 0:
        return False, "water-like (MNDWI ≥ 0)"
    if median(reflectance[..., RED][core]) >= MAX_RED_BLUE_RATIO * median(reflectance[..., BLUE][core]):
        return False, "soil-like (B4 ≥ %g × B2)" % MAX_RED_BLUE_RATIO
    gain = blue_red_gain(reflectance, core, ring)
    nir_drop = relative_drop(reflectance, core, ring, NIR)
    if not gain >= MIN_BLUE_RED_GAIN:
        if higher_ndpi and auc >= DECISIVE_NDPI_AUC and nir_drop >= DECISIVE_NIR_DROP:
            return True, "NDPI and NIR decisive, though not bluer than its surroundings"
        return False, "not bluer than its surroundings (B2/B4 gain below %g)" % MIN_BLUE_RED_GAIN
    if higher_ndpi and auc >= STRONG_NDPI_AUC:
        return True, "NDPI clearly higher than its surroundings"
    signals = {"higher NDPI": higher_ndpi and auc >= MIN_NDPI_AUC,
               "lower NIR": nir_drop >= MIN_NIR_DROP,
               "blue peak": blue_peak(reflectance, core, ring),
               "much bluer": gain >= DARK_BLUE_RED_GAIN}
    seen = [name for name, present in signals.items() if present]
    if len(seen) >= MIN_PV_SIGNALS:
        return True, "PV signals against its surroundings: " + ", ".join(seen)
    return False, "only %s of %d PV signals (%s)" % (len(seen), len(signals), ", ".join(seen) or "none")


#: Half-widths of the ramps that make the candidate test continuous (:func:`pv_evidence`): each threshold of
#: :func:`plausible_pv` is the middle of a ramp from 0 to 1 this wide on either side.
AUC_SOFTNESS = 0.1
GAIN_SOFTNESS = 0.05
DROP_SOFTNESS = 0.05
BLUE_RISE_SOFTNESS = 0.002
RED_BLUE_SOFTNESS = 0.1
MNDWI_SOFTNESS = 0.05


def passing(value, threshold, softness):
    """How clearly ``value`` reaches ``threshold``: 0 at ``threshold − softness`` or below, 1 at ``threshold +
    softness`` or above, 0.5 at the threshold itself (0 for NaN)."""
    if value != value:
        return 0.0
    return min(1.0, max(0.0, float((value - threshold + softness) / (2 * softness))))


def pv_evidence(reflectance, index, core, ring):
    """How PV-like a core is against its ring, from 0 (not at all) to 1 (clearly): :func:`plausible_pv` made
    continuous. Every threshold of the test becomes a ramp (:func:`passing`) that is 0.5 at the threshold, *and*
    becomes a minimum, *or* a maximum and *two of four* the second largest, so the evidence is at least 0.5
    exactly when the test passes, and tells a narrow pass or rejection from a clear one.
    ``reflectance`` is (rows, cols, 6) in B2, B3, B4, B8, B11, B12 order, ``index`` the NDPI."""
    green, swir1 = reflectance[core][:, GREEN], reflectance[core][:, SWIR1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mndwi = median((green - swir1) / (green + swir1))
    blue, red = (median(reflectance[..., band][core]) for band in (BLUE, RED))
    higher = median(index[core]) > median(index[ring])
    auc = ndpi_auc(index, core, ring) if higher else 0.0
    gain = blue_red_gain(reflectance, core, ring)
    nir_drop = relative_drop(reflectance, core, ring, NIR)
    blue_rise, red_rise = rises(reflectance, core, ring, (BLUE, RED))
    land = min(passing(-mndwi, 0, MNDWI_SOFTNESS), passing(-red / blue if blue > 0 else -np.inf,
                                                            -MAX_RED_BLUE_RATIO, RED_BLUE_SOFTNESS))
    decisive = min(passing(auc, DECISIVE_NDPI_AUC, AUC_SOFTNESS),
                   passing(nir_drop, DECISIVE_NIR_DROP, DROP_SOFTNESS))
    signals = sorted((passing(auc, MIN_NDPI_AUC, AUC_SOFTNESS), passing(nir_drop, MIN_NIR_DROP, DROP_SOFTNESS),
                      min(passing(blue_rise, MIN_BLUE_RISE, BLUE_RISE_SOFTNESS),
                          passing(blue_rise - red_rise, 0, BLUE_RISE_SOFTNESS)),
                      passing(gain, DARK_BLUE_RED_GAIN, GAIN_SOFTNESS)))
    bluer = min(passing(gain, MIN_BLUE_RED_GAIN, GAIN_SOFTNESS),
                max(passing(auc, STRONG_NDPI_AUC, AUC_SOFTNESS), signals[-MIN_PV_SIGNALS]))
    return min(land, max(decisive, bluer))


def refine_component(reflectance, index, component, free, candidate, valid):
    """Improved method for one prior component in a window: refine it (trusted) or confirm and refine it.

    ``free`` holds the valid pixels in no prior (the ring is taken from them), ``valid`` all valid pixels."""
    core, ring = core_and_ring(component, free)
    if np.count_nonzero(ring) < MIN_RING_PIXELS:
        if candidate:
            return ComponentResult(np.zeros_like(component), accepted=False, reason="no background to compare",
                                   undecided=True)
        return ComponentResult(component.copy(), reason="no background to compare: kept whole")
    auc = ndpi_auc(index, core, ring)
    confidence = float(np.clip(2 * auc - 1, 0, 1))
    core_ndpi, ring_ndpi = median(index[core]), median(index[ring])
    threshold = float(ring_ndpi + PEEL_FRACTION * (core_ndpi - ring_ndpi))
    evidence = ""
    if candidate:
        passes, evidence = plausible_pv(reflectance, core, ring, auc, core_ndpi > ring_ndpi)
        if not passes:
            return ComponentResult(np.zeros_like(component), confidence, threshold, accepted=False, reason=evidence)
    if confidence < MIN_PEEL_CONFIDENCE:
        return ComponentResult(component.copy(), confidence, threshold, reason="weak NDPI contrast: kept whole",
                               evidence=evidence)
    fraction = pv_fraction(reflectance, core, ring)
    if fraction is None:
        if candidate:
            return ComponentResult(np.zeros_like(component), confidence, threshold, accepted=False,
                                   reason="core and surroundings alike")
        return ComponentResult(component.copy(), confidence, threshold, reason="core and surroundings alike")
    kept, peeled = peel(component, fraction, valid, free)
    kept, grown = grow(kept, fraction, free, valid) if not peeled else (kept, 0)
    kept, shifted = shift(kept, fraction, free, valid) if not (peeled or grown) else (kept, 0)
    reason = "peeled %d, grew %d layer(s)" % (peeled, grown) + (", shifted 1 px" if shifted else "")
    return ComponentResult(kept, confidence, threshold, peeled, grown, shifted, reason=reason, evidence=evidence)


def decide_component(bands, dn, component, in_prior, candidate):
    """:func:`refine_component` of one prior component on DN arrays ``dn`` (its window, read by ``bands``);
    ``in_prior`` marks the window's pixels in any prior. None when the component has no valid pixel; ``refined``
    is set when the method changed the component's outline (peeled, grown or shifted), trusted or candidate."""
    index, valid = bands.ndpi(dn)
    return decide_measured(bands.reflectance(dn), index, valid, component, in_prior, candidate)


def decide_measured(reflectance, index, valid, component, in_prior, candidate):
    """:func:`decide_component` on a window already measured: its reflectance (rows, cols, 6), NDPI and valid
    pixels."""
    component = component & valid
    if not component.any():
        return None
    result = refine_component(reflectance, index, component, valid & ~in_prior, candidate, valid)
    result.refined = changed(result)
    return result


def prior_components(trusted, candidate, shape):
    """Every prior component as (window, component mask in the window, is candidate): trusted components, then
    candidate ones. Parts of a prior at most 2 × :data:`CLUSTER_REACH` pixels apart form one component (one
    plant drawn as several polygons is decided as a whole). One role is labelled at a time and each component kept
    cropped to its window, so a full tile needs one label raster at a time."""
    components = []
    for prior, is_candidate in ((trusted, False), (candidate, True)):
        labels, _ = label_components(dilate(prior, CLUSTER_REACH) if prior.any() else prior)
        for label, found in enumerate(ndimage.find_objects(labels), start=1):
            if found is not None:
                window = grown_window(found, MARGIN, shape)
                components.append((window, (labels[window] == label) & prior[window], is_candidate))
        del labels
    return components


def improved_fusion(bands, trusted, candidate, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """Fuse bool prior masks with the improved method, reading ``bands`` (a :mod:`.bandsource`) window by window.
    ``trusted`` and ``candidate`` are as :func:`~.fusion.normalise_priors` returns them (``fuse`` does that).

    Each prior component is decided in its own window (its bounds plus :data:`MARGIN` pixels), so only the
    pixels around priors are read and memory does not grow with the image beyond the masks. Returns a
    :class:`~.fusion.FusionResult` with one group per prior component (components of at most ``min_area`` pixels
    removed); the component results are in its ``components``.
    """
    shape = bands.shape
    source = np.zeros(shape, np.uint8)
    results, kept_flat, kept_group = [], [], []
    components = prior_components(trusted, candidate, shape)
    shared = ThreadBands(bands)

    def decide(group):
        """Read a group's window once and decide each of its components."""
        read_window, members = group
        block = shared.get().read(*read_window)
        decided = []
        for position in members:
            window, component, is_candidate = components[position]
            in_prior = trusted[window] | candidate[window]
            result = decide_component(bands, sub_window(block, read_window, window), component, in_prior,
                                      is_candidate)
            if result is not None:
                decided.append((position, result))
        return decided

    windows = [window for window, _, _ in components]
    for decided in map_in_threads(decide, group_windows(bands, windows), progress.span(0, 90)):
        for position, result in decided:
            window, _, is_candidate = components[position]
            results.append(result)
            source[window][result.kept] = SOURCE_CANDIDATE if is_candidate else SOURCE_TRUSTED
            flat = flat_indices(window, result.kept, shape[1])
            kept_flat.append(flat)
            kept_group.append(np.full(flat.size, len(results), np.int32))

    def group_of(pixels):
        """The component (group) each kept PV pixel came from."""
        if not kept_flat:
            return np.zeros(pixels.size, np.int32)
        flat, group = np.concatenate(kept_flat), np.concatenate(kept_group)
        order = np.argsort(flat, kind="stable")  # a pixel kept by two components belongs to the later one
        return group[order][np.searchsorted(flat[order], pixels, side="right") - 1]

    nan = [float("nan")]
    fused = fused_result(source, min_area, group_of, nan + [r.threshold for r in results],
                         nan + [r.confidence for r in results], [False] + [r.refined for r in results],
                         components=results, decisions=component_decisions(results))
    progress.step(100)
    return fused


def outcome(result):
    """How a prior component was decided, in words: its reason, and the evidence of a candidate."""
    return "%s (%s)" % (result.reason, result.evidence) if result.evidence else result.reason


def outcome_counts(outcomes):
    """One line per distinct :func:`outcome` (strings), with how many components had it."""
    counts = {}
    for text in outcomes:
        counts[text] = counts.get(text, 0) + 1
    return ["%d prior component(s): %s" % (count, text) for text, count in sorted(counts.items())]


def component_decisions(results):
    """One line per distinct outcome of the prior components, with how many had it."""
    return outcome_counts([outcome(result) for result in results])
