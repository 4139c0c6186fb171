"""Priors decided group by group (``core.groups`` and ``extract_pv_plants``) give what the whole image gives."""
import numpy as np
import pytest

from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.bandsource import ArrayBands
from fusion_pv_mapping.core.extract import METHOD_IMPROVED, METHOD_PAPER, NoValidPixels, extract_pv_plants, fuse
from fusion_pv_mapping.core.groups import GROUP_MARGIN, ArrayPriors, UnionPriors, group_boxes
from fusion_pv_mapping.core.plants import AGREEMENT_DOUBT, agreed_confidence, describe_plants
from flawed_priors import flawed_priors
from test_windows import NODATA, mosaic


def boxes_near(a, b, margin):
    """Do boxes a and b come within ``margin`` pixels of each other (in both directions)?"""
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin


def test_groups_keep_every_other_box_beyond_the_margin():
    rng = np.random.default_rng(3)
    tops, lefts = rng.integers(-20, 600, 300), rng.integers(-20, 600, 300)
    boxes = np.stack([tops, lefts, tops + rng.integers(1, 30, 300), lefts + rng.integers(1, 30, 300)], axis=1)
    groups = group_boxes(boxes, 13)
    members = sorted(i for _, group in groups for i in group)
    assert members == list(range(300))
    for box, group in groups:
        assert box == (boxes[group, 0].min(), boxes[group, 1].min(), boxes[group, 2].max(), boxes[group, 3].max())
        others = np.setdiff1d(np.arange(300), group)
        assert not any(boxes_near(box, boxes[i], 13) for i in others)
    assert len(groups) < 300  # some boxes were close enough to share a group
    assert [box[:2] for box, _ in groups] == sorted(box[:2] for box, _ in groups)


def test_a_chain_of_boxes_becomes_one_group_only_through_its_union():
    """An L of two bars: a box in the L's corner is near neither bar but inside their union's window."""
    top_bar, right_bar, corner = (0, 0, 3, 10), (0, 10, 30, 13), (25, 0, 30, 4)
    assert len(group_boxes([top_bar, right_bar, corner], 5)) == 1
    assert len(group_boxes([top_bar, corner], 5)) == 2 and len(group_boxes([right_bar, corner], 5)) == 2


def test_array_priors_box_each_connected_piece():
    mask = np.zeros((20, 20), bool)
    mask[2:5, 3:6] = True
    mask[5, 6] = True  # touches the first piece at a corner: 8-connected
    mask[15:17, 10:19] = True
    priors = ArrayPriors(mask)
    assert sorted(map(tuple, priors.boxes)) == [(2, 3, 6, 7), (15, 10, 17, 19)]


def plant_view(plant_map):
    """(mask, [(pixels, source, threshold, confidence, refined), …] in plant_id order) of a PlantMap."""
    return plant_map.mask(), [(p.pixels, p.source, p.threshold, p.confidence, p.refined) for p in plant_map.plants]


def whole_view(fusion):
    """The same of a whole-image FusionResult, its plants taken in raster order of their first pixel."""
    plants, windows = describe_plants(fusion)
    first = [np.flatnonzero(fusion.labels == p.plant_id)[0] for p in plants]
    return fusion.mask, [(p.pixels, p.source, p.threshold, p.confidence, p.refined)
                         for _, p in sorted(zip(first, plants), key=lambda pair: pair[0])]


@pytest.mark.parametrize("method", [METHOD_IMPROVED, METHOD_PAPER])
@pytest.mark.parametrize("prior_kind", ["exact", "grown2", "shifted1", "generalised20m"])
def test_group_by_group_equals_the_whole_image(chips, method, prior_kind):
    """Real chips in one mosaic read in 8 × 8 blocks, trusted and candidate priors overlapping: the same plants,
    in the same (raster) order, with the same attributes, as the whole-image fusion."""
    dn, reference, _ = mosaic(chips)
    nodata = {role: NODATA for role in ROLES}
    prior = flawed_priors(reference)[prior_kind]
    candidate = np.roll(prior, 4, axis=1)
    found = 0
    for trusted, candidates in ((prior, None), (None, prior), (prior, candidate)):
        bands = ArrayBands(dn, nodata, (8, 8), read_target=8)
        whole_mask, whole_plants = whole_view(fuse(bands, trusted, candidates, method=method))
        grouped = extract_pv_plants(bands, trusted, candidates, method=method)
        mask, plants = plant_view(grouped)
        assert np.array_equal(mask, whole_mask)
        assert len(plants) == len(whole_plants)
        found += len(plants)
        for mine, theirs in zip(plants, whole_plants):
            assert mine[:2] == theirs[:2] and mine[4] == theirs[4]
            np.testing.assert_allclose(mine[2:4], theirs[2:4], rtol=1e-12, equal_nan=True)
    assert found >= 8  # the paper method rejects these candidates, so only the trusted runs must find plants


def test_plants_are_numbered_in_raster_order_with_their_windows(chips):
    dn, reference, _ = mosaic(chips)
    plant_map = extract_pv_plants(ArrayBands(dn, {role: NODATA for role in ROLES}), reference, None)
    firsts = []
    for plant, window, local in zip(plant_map.plants, plant_map.windows, plant_map.masks):
        assert local.shape == (window[0].stop - window[0].start, window[1].stop - window[1].start)
        assert local.sum() == plant.pixels and local[0].any() and local[:, 0].any()
        first = np.argmax(local)
        firsts.append((window[0].start + first // local.shape[1], window[1].start + first % local.shape[1]))
    assert firsts == sorted(firsts) and [p.plant_id for p in plant_map.plants] == list(range(1, len(firsts) + 1))
    assert plant_map.groups == 4  # the four chips, 9 nodata pixels apart, are within GROUP_MARGIN of no other
    assert GROUP_MARGIN > 9


def test_chosen_groups_only_are_decided(chips):
    dn, reference, offsets = mosaic(chips)
    bands = ArrayBands(dn, {role: NODATA for role in ROLES})
    everything = extract_pv_plants(bands, reference, None)
    left_half = extract_pv_plants(bands, reference, None, choose=lambda groups: [
        group for group in groups if group.centre[1] < dn["BLUE"].shape[1] / 2])
    expected = everything.mask()
    expected[:, dn["BLUE"].shape[1] // 2:] = False
    assert np.array_equal(left_half.mask(), expected) and 0 < len(left_half.plants) < len(everything.plants)
    assert len(extract_pv_plants(bands, reference, None, choose=lambda groups: []).plants) == 0


def test_no_valid_pixel_under_the_priors_is_an_error():
    dn = {role: np.full((3, 3), NODATA, np.int16) for role in ROLES}
    for method in (METHOD_IMPROVED, METHOD_PAPER):
        with pytest.raises(NoValidPixels):
            extract_pv_plants(ArrayBands(dn, {role: NODATA for role in ROLES}), np.ones((3, 3), bool), method=method)


@pytest.mark.parametrize("method", [METHOD_IMPROVED, METHOD_PAPER])
def test_plants_name_the_prior_layers_that_overlap_them_and_agreement_raises_confidence(chips, method):
    """Three named products over four real plants: OSM outlines every plant, GlobalPV (shifted) the first two,
    TZ-SAM (grown, a candidate) the last. Unnamed priors give the same plants with no sources and the image's own
    confidence."""
    dn, reference, offsets = mosaic(chips)
    bands = ArrayBands(dn, {role: NODATA for role in ROLES})
    third, last = offsets[2][1].start, offsets[-1][1].start  # where the third and the last chip begin
    flawed = flawed_priors(reference)
    global_pv, tz_sam = flawed["shifted1"].copy(), flawed["grown1"].copy()
    global_pv[:, third:] = False
    tz_sam[:, :last] = False
    trusted = UnionPriors([ArrayPriors(reference, "OSM"), ArrayPriors(global_pv, "GlobalPV")])
    named = extract_pv_plants(bands, trusted, ArrayPriors(tz_sam, "TZ-SAM"), method=method)
    unnamed = extract_pv_plants(bands, reference | global_pv, tz_sam, method=method)
    assert np.array_equal(named.mask(), unnamed.mask()) and len(named.plants) == len(unnamed.plants) >= 4
    for plant, window, plain in zip(named.plants, named.windows, unnamed.plants):
        left = window[1].start
        expected = ("OSM",) + (("GlobalPV",) if left < third else ()) + (("TZ-SAM",) if left >= last else ())
        assert plant.sources == expected and plain.sources == ()
        if method == METHOD_IMPROVED:
            assert plant.confidence == pytest.approx(agreed_confidence(plain.confidence, len(expected)))
            assert plant.confidence >= plain.confidence
        else:
            assert np.isnan(plant.confidence) and np.isnan(plain.confidence)  # the paper method gives none
    assert {len(plant.sources) for plant in named.plants} == {1, 2}


def test_agreement_halves_the_doubt_per_further_product():
    assert agreed_confidence(0.6, 1) == pytest.approx(0.6)
    assert agreed_confidence(0.6, 2) == pytest.approx(1 - 0.4 * AGREEMENT_DOUBT)
    assert agreed_confidence(0.6, 3) == pytest.approx(1 - 0.4 * AGREEMENT_DOUBT ** 2)
    assert np.isnan(agreed_confidence(float("nan"), 3))


def test_a_padded_mask_gives_whole_boxes_across_the_raster_edge():
    """A mask warped onto the raster grown by 3 px: a piece crossing the left edge keeps its whole box (reaching
    beyond the raster), and a window of the raster draws the raster's own pixels."""
    mask = np.zeros((10 + 6, 12 + 6), bool)
    mask[5:8, 1:6] = True            # raster columns -2 … 2
    priors = ArrayPriors(mask, pad=3)
    assert priors.boxes.tolist() == [[2, -2, 5, 3]]
    window = (slice(0, 10), slice(0, 12))
    drawn = priors.render(window, [0])
    assert drawn.shape == (10, 12) and drawn.sum() == 9 and drawn[2:5, 0:3].all()
