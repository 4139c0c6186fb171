"""The improved method: its parts on hand-made cases, its branches on small real crops."""
import os

import numpy as np
import pytest

from fusion_pv_mapping.core.andpi import to_reflectance
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.extract import METHOD_IMPROVED, fuse
from fusion_pv_mapping.core import improved
from chip_data import bands_by_role, chip_ids
from flawed_priors import flawed_priors

VIRGINIA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "virginia_crop.npz")
HARD_CASES = {"1913"}


def reflectance_of(dn):
    return np.stack([to_reflectance(dn[role]) for role in ROLES], axis=-1)


def iou(a, b):
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_pv_fraction_is_linear_in_real_mixtures(chips):
    """A pixel mixed from the core and ring medians of a real plant gets its PV share as fraction."""
    reflectance = reflectance_of(bands_by_role(chips["median_159"]))
    reference = chips["reference_159"]
    core, ring = improved.core_and_ring(reference, ~reference)
    pv, background = np.median(reflectance[core], axis=0), np.median(reflectance[ring], axis=0)
    shares = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    mixtures = shares[:, None] * pv + (1 - shares[:, None]) * background
    # the chip's pixels as one column, the mixtures appended below (in neither core nor ring)
    pixels = np.concatenate([reflectance.reshape(-1, 6), mixtures])[:, None, :]
    extra = np.zeros((len(shares), 1), bool)
    fraction = improved.pv_fraction(pixels, np.vstack([core.reshape(-1, 1), extra]),
                                    np.vstack([ring.reshape(-1, 1), extra]))
    assert np.allclose(fraction[-len(shares):, 0], shares, atol=1e-9)


def square(size, layer_values, inner=1.0):
    """A size × size component filling a window two pixels larger, with its outer layers set to given values."""
    component = np.zeros((size + 4, size + 4), bool)
    component[2:-2, 2:-2] = True
    fraction = np.full(component.shape, inner)
    for depth, value in enumerate(layer_values):
        ring = np.zeros_like(component)
        ring[2 + depth:size + 2 - depth, 2 + depth:size + 2 - depth] = True
        ring[3 + depth:size + 1 - depth, 3 + depth:size + 1 - depth] = False
        fraction[ring] = value
    fraction[~component] = 0.0
    return component, fraction


def test_peel_removes_background_layers_only():
    component, fraction = square(8, [0.1])
    kept, layers = improved.peel(component, fraction)
    assert layers == 1 and kept.sum() == 36
    component, fraction = square(8, [0.5])  # a blurred but real edge: kept
    kept, layers = improved.peel(component, fraction)
    assert layers == 0 and kept.sum() == 64
    component, fraction = square(8, [0.0, 0.1, 0.2])  # at most two layers go
    kept, layers = improved.peel(component, fraction)
    assert layers == 2 and kept.sum() == 16


def test_peel_keeps_the_pv_like_part_of_a_peeled_layer():
    component, fraction = square(8, [0.1])
    fraction[2, 2:10] = 0.9  # the top side of the outer layer looks like PV
    kept, layers = improved.peel(component, fraction)
    assert layers == 1
    assert kept[2, 3:9].all() and not kept[9, 2:10].any() and not kept[3:9, 2].any()


def test_ndpi_auc_is_the_pairwise_share():
    rng = np.random.default_rng(3)
    index = np.round(rng.normal(size=(10, 10)), 1)
    core, ring = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    core[:4], ring[6:] = True, True
    pairs = index[core][:, None] - index[ring][None, :]
    expected = (np.count_nonzero(pairs > 0) + 0.5 * np.count_nonzero(pairs == 0)) / pairs.size
    assert improved.ndpi_auc(index, core, ring) == pytest.approx(expected)


def test_trusted_priors_on_real_chips(chips):
    """Over-extended priors are trimmed towards the outline; exact ones survive."""
    gains, exact = [], []
    for chip in chip_ids(chips):
        if chip in HARD_CASES:
            continue
        dn, reference = bands_by_role(chips["median_" + chip]), chips["reference_" + chip]
        priors = flawed_priors(reference)
        grown = fuse(dn, priors["grown1"], None, method=METHOD_IMPROVED)
        gains.append(iou(grown.mask, reference) - iou(priors["grown1"], reference))
        exact.append(iou(fuse(dn, priors["exact"], None, method=METHOD_IMPROVED).mask, reference))
        assert not (grown.mask & ~priors["grown1"]).any()  # trusted priors are only trimmed
    assert np.mean(gains) > 0.1 and min(gains) >= 0
    assert np.mean(exact) >= 0.95


def test_real_plants_are_confirmed_as_candidates(chips):
    confirmed = 0
    plants = [chip for chip in chip_ids(chips) if chip not in HARD_CASES]
    for chip in plants:
        dn, reference = bands_by_role(chips["median_" + chip]), chips["reference_" + chip]
        result = fuse(dn, None, flawed_priors(reference)["grown1"], method=METHOD_IMPROVED)
        if iou(result.mask, reference) >= 0.5:
            confirmed += 1
            assert np.all(result.source[result.mask] == 2)
            assert 0 < np.nanmin(result.confidence[result.mask]) <= 1
            assert np.isfinite(result.threshold[result.mask]).all()
    assert confirmed >= len(plants) - 1


def test_floating_pv_on_open_water_is_rejected_as_water(chips):
    """Chip 1913: floating PV built in 2023, open water in the 2022 image (a documented hard case)."""
    dn = bands_by_role(chips["median_1913"])
    result = fuse(dn, None, chips["reference_1913"], method=METHOD_IMPROVED)
    assert not result.mask.any()
    assert [c.reason for c in result.components] == ["water-like (MNDWI ≥ 0)"]


def plant_shape(chips, chip):
    """The reference outline of a chip cropped to its bounds."""
    shape = chips["reference_" + chip]
    rows, cols = np.nonzero(shape)
    return shape[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def test_plant_shapes_on_real_farmland_and_water_are_rejected(chips):
    bands = np.load(VIRGINIA)["bands"]
    dn = dict(zip(ROLES, bands))
    shape = plant_shape(chips, "101")
    reasons = []
    for top, left in ((4, 4), (4, 34), (34, 4), (34, 34)):
        prior = np.zeros(bands.shape[1:], bool)
        prior[top:top + shape.shape[0], left:left + shape.shape[1]] = shape
        result = fuse(dn, None, prior, method=METHOD_IMPROVED)
        assert not result.mask.any()
        reasons += [c.reason for c in result.components]
    assert set(reasons) == {"water-like (MNDWI ≥ 0)", "NDPI not higher than its surroundings",
                            "not darker in NIR than its surroundings"}


def test_a_prior_without_surroundings(chips):
    dn = bands_by_role(chips["median_9"])
    everything = np.ones(chips["reference_9"].shape, bool)
    trusted = fuse(dn, everything, None, method=METHOD_IMPROVED, min_area=0)
    assert trusted.mask.all() and trusted.components[0].reason.startswith("no background")
    candidate = fuse(dn, None, everything, method=METHOD_IMPROVED)
    assert not candidate.mask.any() and not candidate.components[0].accepted


def test_trusted_priors_without_pv_contrast_are_kept_whole(chips):
    """A trusted prior on real farmland or water: too little NDPI contrast to justify changing it."""
    bands = np.load(VIRGINIA)["bands"]
    shape = plant_shape(chips, "101")
    prior = np.zeros(bands.shape[1:], bool)
    prior[4:4 + shape.shape[0], 4:4 + shape.shape[1]] = shape
    result = fuse(dict(zip(ROLES, bands)), prior, None, method=METHOD_IMPROVED)
    assert np.array_equal(result.mask, prior)
    component = result.components[0]
    assert component.reason == "weak contrast: kept whole"
    assert component.confidence < improved.MIN_PEEL_CONFIDENCE
    assert not result.refined.any()
