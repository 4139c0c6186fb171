"""The improved method: its parts on hand-made cases, its branches on small real crops."""
import datetime
import os

import numpy as np
import pytest
from scipy import ndimage

from fusion_pv_mapping.core.ndpi import ndpi_from_dn, to_reflectance
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.extract import METHOD_IMPROVED, fuse
from fusion_pv_mapping.core.plants import describe_plants
from fusion_pv_mapping.core import improved
from fusion_pv_mapping.core.bandsource import band_source
from fusion_views import per_pixel, refined
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


def everywhere(mask):
    return np.ones_like(mask)


def test_peel_removes_background_layers_only():
    component, fraction = square(7, [0.1])
    kept, layers = improved.peel(component, fraction, everywhere(component), ~component)
    assert layers == 1 and kept.sum() == 25
    component, fraction = square(7, [0.0, 0.1, 0.2])  # at most two layers go
    kept, layers = improved.peel(component, fraction, everywhere(component), ~component)
    assert layers == 2 and kept.sum() == 9


def blurred_plant(size, outline_size, sigma=improved.PSF_SIGMA):
    """PV fractions of a ``size`` × ``size`` plant seen through a Gaussian point spread of ``sigma`` px, with a
    prior outline ``outline_size`` × ``outline_size`` around the same centre, in a window 8 px larger than the
    plant."""
    plant = np.zeros((size + 8, size + 8), bool)
    plant[4:-4, 4:-4] = True
    fraction = ndimage.gaussian_filter(plant.astype(float), sigma, mode="nearest")
    outline = np.zeros_like(plant)
    margin = 4 - (outline_size - size) // 2
    outline[margin:-margin, margin:-margin] = True
    return plant, outline, fraction


def test_peel_keeps_a_correct_outline_seen_through_the_point_spread():
    plant, outline, fraction = blurred_plant(9, 9)
    kept, layers = improved.peel(outline, fraction, everywhere(outline), ~outline)
    assert layers == 0 and np.array_equal(kept, outline)


def test_peel_uses_the_point_spread_where_the_outside_looks_half_pv():
    """One pixel too wide, on a composite blurred a little more than the model's point spread: the outer layer's
    median fraction (blur alone) is not below PEEL_FRACTION, yet the blurred outline without it fits the fractions
    far better, so it is peeled back to the plant."""
    plant, outline, fraction = blurred_plant(9, 11, sigma=1.2)
    layer = improved.outer_layer(outline, everywhere(outline))
    assert np.median(fraction[layer]) >= improved.PEEL_FRACTION
    band = improved.outline_band(outline, everywhere(outline), ~outline)
    assert improved.outline_evidence(fraction, outline, [outline & ~layer], band)[0] >= improved.PEEL_EVIDENCE
    kept, layers = improved.peel(outline, fraction, everywhere(outline), ~outline)
    assert layers == 1 and np.array_equal(kept, plant)


def test_peel_keeps_the_pv_like_part_of_a_peeled_layer():
    component, fraction = square(7, [0.1])
    fraction[2, 2:9] = 0.9  # the top side of the outer layer looks like PV
    kept, layers = improved.peel(component, fraction, everywhere(component), ~component)
    assert layers == 1
    assert kept[2, 3:8].all() and not kept[8, 2:9].any() and not kept[4:8, 2].any()


def test_coarse_block_finds_the_grid_a_prior_is_drawn_on(chips):
    reference = chips["reference_159"]
    priors = flawed_priors(reference)
    assert improved.coarse_block(priors["generalised20m"]) == 2
    assert improved.coarse_block(np.kron(reference, np.ones((3, 3), bool))) == 3
    assert improved.coarse_block(reference) == 1
    assert improved.coarse_block(np.ones((8, 8), bool)) == 1  # a rectangle could be drawn on any grid


def test_shift_moves_a_misregistered_outline_back():
    plant, outline, fraction = blurred_plant(9, 9)
    for step in improved.SIDES:
        moved = improved.neighbour(outline, step)
        kept, shifted = improved.shift(moved, fraction, everywhere(moved), ~moved)
        assert shifted == 1 and np.array_equal(kept, plant)
    kept, shifted = improved.shift(outline, fraction, everywhere(outline), ~outline)
    assert shifted == 0 and np.array_equal(kept, outline)


def half_square_with_pv_beyond(width=20):
    """A 10 × 10 prior in a 14 × ``width`` window whose right neighbour (up to column 17) looks like PV too."""
    fraction = np.zeros((14, width))
    fraction[2:12, 2:18] = 1.0
    prior = np.zeros(fraction.shape, bool)
    prior[2:12, 2:12] = True
    return prior, fraction


def test_grow_follows_pv_beyond_one_side_only():
    prior, fraction = half_square_with_pv_beyond()
    kept, layers = improved.grow(prior, fraction, ~prior, everywhere(prior))
    assert layers == improved.MAX_GROW
    assert kept[2:12, 2:12 + improved.MAX_GROW].all()
    assert np.array_equal(kept & ~prior, dilate_right(prior, improved.MAX_GROW) & ~prior)
    blurred_edge = np.where(prior, 1.0, 0.15)  # a correct outline: the first pixels outside are ≈ 0.15 PV
    kept, layers = improved.grow(prior, blurred_edge, ~prior, everywhere(prior))
    assert layers == 0 and np.array_equal(kept, prior)


def dilate_right(mask, steps):
    grown = mask.copy()
    for step in range(1, steps + 1):
        grown[:, step:] |= mask[:, :-step]
    return grown


def test_growth_into_the_unknown_is_undone():
    prior, fraction = half_square_with_pv_beyond(width=15)  # the PV runs to the window's (image's) edge
    kept, layers = improved.grow(prior, fraction, ~prior, everywhere(prior))
    assert layers == 0 and np.array_equal(kept, prior)
    prior, fraction = half_square_with_pv_beyond()
    valid = everywhere(prior)
    valid[:, 15] = False  # nodata right of the PV
    kept, layers = improved.grow(prior, fraction, ~prior & valid, valid)
    assert layers == 0 and np.array_equal(kept, prior)


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
    assert np.mean(gains) > 0.1 and min(gains) >= 0
    assert np.mean(exact) >= 0.95


def test_a_real_outline_one_pixel_too_wide_is_peeled_on_the_point_spread_evidence(chips):
    """Chip 9: the pixels just outside the plant look half PV (the grown layer's median fraction is above
    PEEL_FRACTION), but the blurred outline fits better without them; the exact outline is kept whole."""
    dn, reference = bands_by_role(chips["median_9"]), chips["reference_9"]
    grown = flawed_priors(reference)["grown1"]
    bands = band_source(dn)
    block = bands.read(slice(0, reference.shape[0]), slice(0, reference.shape[1]))
    index, valid = bands.ndpi(block)
    core, ring = improved.core_and_ring(grown, valid & ~grown)
    fraction = improved.pv_fraction(bands.reflectance(block), core, ring)
    assert np.median(fraction[improved.outer_layer(grown, valid)]) >= improved.PEEL_FRACTION
    result = fuse(dn, grown, None, method=METHOD_IMPROVED)
    assert result.components[0].peeled == 1
    assert iou(result.mask, reference) >= iou(grown, reference) + 0.1
    assert np.array_equal(fuse(dn, reference, None, method=METHOD_IMPROVED).mask, reference)


def test_a_real_misregistered_outline_moves_back(chips):
    """Chip 152: the outline shifted one pixel right moves back onto the plant."""
    dn, reference = bands_by_role(chips["median_152"]), chips["reference_152"]
    result = fuse(dn, flawed_priors(reference)["shifted1"], None, method=METHOD_IMPROVED)
    assert result.components[0].shifted == 1 and "shifted 1 px" in result.decisions[0]
    assert iou(result.mask, reference) >= 0.95


def test_real_outlines_on_the_20m_grid_are_decided_pixel_by_pixel(chips):
    """20 m generalised priors are recognised as coarse and their outer pixels decided one by one: they gain on
    average over the bundled chips."""
    gains = []
    for chip in chip_ids(chips):
        if chip in HARD_CASES:
            continue
        dn, reference = bands_by_role(chips["median_" + chip]), chips["reference_" + chip]
        coarse = flawed_priors(reference)["generalised20m"]
        if not (coarse[[0, -1]].any() or coarse[:, [0, -1]].any()):  # a block cut by the chip's edge hides the grid
            assert improved.coarse_block(coarse) == 2
        gains.append(iou(fuse(dn, coarse, None, method=METHOD_IMPROVED).mask, reference) - iou(coarse, reference))
    assert np.mean(gains) > 0 and max(gains) >= 0.05


def test_priors_missing_half_their_plant_grow_back(chips):
    """The left half of each real outline removed: growth recovers part of it and never loses."""
    gains = []
    for chip in chip_ids(chips):
        if chip in HARD_CASES:
            continue
        dn, reference = bands_by_role(chips["median_" + chip]), chips["reference_" + chip]
        half = reference.copy()
        half[:, :reference.shape[1] // 2] = False
        result = fuse(dn, half, None, method=METHOD_IMPROVED)
        gains.append(iou(result.mask, reference) - iou(half, reference))
        assert not (half & ~result.mask).any() or result.components[0].peeled
    assert min(gains) >= 0 and np.mean(gains) > 0.03
    assert max(gains) > 0.15


def test_a_vegetated_plant_with_low_ndpi_contrast_is_confirmed_by_nir_and_blue(chips):
    """Chip 802 on its single date: the plant is greener than the dry field around it, so its NDPI is lower than
    its surroundings', but it is darker in NIR and shows the blue peak of PV glass."""
    dn, reference = bands_by_role(chips["bestdate_802"]), chips["reference_802"]
    result = fuse(dn, None, reference, method=METHOD_IMPROVED)
    component, = result.components
    assert component.evidence == "PV signals against its surroundings: lower NIR, blue peak, much bluer"
    assert iou(result.mask, reference) > 0.95
    reflectance = reflectance_of(dn)
    core, ring = improved.core_and_ring(reference, ~reference)
    assert improved.blue_peak(reflectance, core, ring)
    assert not improved.blue_peak(reflectance, ring, core)


def test_parts_of_one_plant_are_decided_together(chips):
    """A real outline cut in two by a 1-pixel gap is one component; 3 pixels apart, two."""
    dn, reference = bands_by_role(chips["median_101"]), chips["reference_101"]
    rows = np.nonzero(reference.any(axis=1))[0]
    middle = (rows[0] + rows[-1]) // 2
    for gap, count in ((1, 1), (3, 2)):
        prior = reference.copy()
        prior[middle:middle + gap] = False
        result = fuse(dn, prior, None, method=METHOD_IMPROVED)
        assert len(result.components) == count


def test_real_plants_are_confirmed_as_candidates(chips):
    confirmed = 0
    plants = [chip for chip in chip_ids(chips) if chip not in HARD_CASES]
    for chip in plants:
        dn, reference = bands_by_role(chips["median_" + chip]), chips["reference_" + chip]
        result = fuse(dn, None, flawed_priors(reference)["grown1"], method=METHOD_IMPROVED)
        if iou(result.mask, reference) >= 0.5:
            confirmed += 1
            assert np.all(result.source[result.mask] == 2)
            assert 0 < np.nanmin(per_pixel(result, "confidence")[result.mask]) <= 1
            assert np.isfinite(per_pixel(result, "threshold")[result.mask]).all()
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


BRIGHT_SURROUNDINGS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "austria_pv",
                                   "bright_surroundings_1953.npz")
SERIES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "austria_pv", "series.npz")
BAND_NAMES = dict(zip(ROLES, ("B02", "B03", "B04", "B08", "B11", "B12")))


def test_a_dark_plant_in_brighter_surroundings_is_confirmed():
    """Chip 1953 on three real dates (bare soil, harvested fields): the ring's NDPI is above the plant's, yet the
    plant is darker in NIR and much bluer relative to red than its ring (two PV signals), so it is confirmed
    whole."""
    arrays = np.load(BRIGHT_SURROUNDINGS)
    reference = arrays["reference"]
    for date in range(len(arrays["days"])):
        dn = {role: arrays[band][date] for role, band in BAND_NAMES.items()}
        reflectance = reflectance_of(dn)
        index, _ = ndpi_from_dn(dn)
        core, ring = improved.core_and_ring(reference, ~reference)
        assert improved.blue_red_gain(reflectance, core, ring) >= improved.DARK_BLUE_RED_GAIN
        result = fuse(dn, None, reference, method=METHOD_IMPROVED)
        assert result.components[0].evidence.endswith("lower NIR, much bluer")
        assert iou(result.mask, reference) >= 0.9
        assert np.median(index[core]) < np.median(index[ring])


def test_a_plant_no_bluer_than_lush_surroundings_passes_on_decisive_ndpi_and_nir():
    """Chip 9 on 2022-05-26: panels as red relative to blue as the green field around them, but NDPI separates
    them almost perfectly and NIR is far lower, so the candidate is confirmed."""
    arrays = np.load(SERIES)
    day = int(np.flatnonzero(arrays["9_days"] == (datetime.date(2022, 5, 26) - datetime.date(1990, 1, 1)).days)[0])
    dn = {role: arrays["9_" + band][day] for role, band in BAND_NAMES.items()}
    reference = arrays["9_reference"]
    core, ring = improved.core_and_ring(reference, ~reference)
    assert improved.blue_red_gain(reflectance_of(dn), core, ring) < improved.MIN_BLUE_RED_GAIN
    result = fuse(dn, None, reference, method=METHOD_IMPROVED)
    assert result.components[0].evidence.startswith("NDPI and NIR decisive")
    assert iou(result.mask, reference) >= 0.5


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
    assert set(reasons) == {"water-like (MNDWI ≥ 0)",
                            "not bluer than its surroundings (B2/B4 gain below %g)" % improved.MIN_BLUE_RED_GAIN}


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
    assert component.reason == "weak NDPI contrast: kept whole"
    assert component.confidence < improved.MIN_PEEL_CONFIDENCE
    assert not refined(result).any()


def test_refined_means_the_same_for_trusted_and_candidate_priors(chips):
    """``refined`` says whether the method changed the prior's outline, whatever its role: the same prior and the
    same outline give the same value as trusted and as candidate (real chips, exact and grown priors)."""
    compared = 0
    for chip in ("101", "152", "159", "9"):
        dn = bands_by_role(chips["median_" + chip])
        for kind, prior in flawed_priors(chips["reference_" + chip]).items():
            if kind not in ("exact", "grown1"):
                continue
            as_trusted = fuse(dn, prior, None, method=METHOD_IMPROVED)
            as_candidate = fuse(dn, None, prior, method=METHOD_IMPROVED)
            if not np.array_equal(as_trusted.mask, as_candidate.mask):
                continue
            compared += 1
            refined_values = [{p.refined for p in describe_plants(result)[0]} for result in (as_trusted,
                                                                                           as_candidate)]
            assert refined_values[0] == refined_values[1], (chip, kind)
            unchanged = np.array_equal(as_trusted.mask, prior)
            assert refined_values[0] == {not unchanged} or not refined_values[0], (chip, kind)
    assert compared >= 3


VILLAGE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "farmland_flanders",
                       "village_plant_179.npz")


def test_a_plant_in_a_bright_village_passes_on_being_much_bluer():
    """The 2022 median of plant 179 placed among the streets, red roofs and gravel of the real Flanders village
    (2018 median): no higher NDPI and no lower NIR than around it, a blue peak and a B2/B4 gain far above
    DARK_BLUE_RED_GAIN. With the first three signals alone it was rejected ("only 1 of 3 PV signals")."""
    arrays = np.load(VILLAGE)
    dn = {role: arrays[band] for role, band in BAND_NAMES.items()}
    outline = arrays["outline"]
    core, ring = improved.core_and_ring(outline, ~outline)
    reflectance = reflectance_of(dn)
    assert improved.relative_drop(reflectance, core, ring, improved.NIR) < improved.MIN_NIR_DROP
    assert improved.blue_red_gain(reflectance, core, ring) >= improved.DARK_BLUE_RED_GAIN
    result = fuse(dn, None, outline, method=METHOD_IMPROVED)
    assert result.components[0].evidence == "PV signals against its surroundings: blue peak, much bluer"
    assert iou(result.mask, outline) >= 0.8
