import numpy as np
from scipy import ndimage
import pytest

from fusion_pv_mapping.core.ndpi import ndpi_from_dn
from fusion_pv_mapping.core.bandsource import ArrayBands
from fusion_pv_mapping.core.components import label_components, label_plants
from fusion_pv_mapping.core.extract import METHOD_PAPER, NoValidPixels, extract_pv_plants
from fusion_pv_mapping.core.bands import ROLES
from fusion_pv_mapping.core.plants import describe_plants
from fusion_pv_mapping.core.paper import paper_fusion
from fusion_pv_mapping.core.progress import Cancelled, Progress
from chip_data import bands_by_role
from flawed_priors import flawed_priors

# 0/1 picture: a 5-px L (removed at min 5), a 6-px diagonal chain (kept: 8-connected), a 1-px dot
PICTURE = np.array([
    [1, 1, 1, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 1, 0, 0, 0],
    [1, 0, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 0, 1, 0, 0],
], bool)


def remove_small_components(mask, max_pixels):
    """Oracle: ``mask`` without its 8-connected components of at most ``max_pixels`` pixels (scipy alone)."""
    labels, count = ndimage.label(mask, np.ones((3, 3), bool))
    keep = np.bincount(labels.ravel(), minlength=count + 1) > max_pixels
    keep[0] = False
    return keep[labels]


def test_components_are_8_connected():
    labels, count = label_components(PICTURE)
    assert count == 3
    chain = labels[1, 4]
    assert all(labels[r, c] == chain for r, c in [(2, 5), (3, 6), (4, 7), (5, 6), (6, 5)])


def test_components_of_at_most_min_pixels_are_removed():
    kept = remove_small_components(PICTURE, 5)
    assert not kept[0:3, 0:3].any() and not kept[6, 1]
    assert kept.sum() == 6
    assert remove_small_components(PICTURE, 4).sum() == 11
    assert np.array_equal(remove_small_components(PICTURE, 0), PICTURE)


def test_label_plants_numbers_the_cleaned_mask_in_raster_order():
    mask = np.random.default_rng(11).random((60, 70)) > 0.6
    labels, count = label_plants(mask, 5)
    expected, expected_count = label_components(remove_small_components(mask, 5))
    assert count == expected_count and np.array_equal(labels, expected)
    assert np.array_equal(label_plants(PICTURE, 0)[0] > 0, PICTURE)


def test_plants_report_their_source_and_threshold(chips):
    index, _ = ndpi_from_dn(bands_by_role(chips["median_101"]))
    reference = chips["reference_101"]
    trusted = flawed_priors(reference)["grown1"]
    candidate = np.zeros_like(reference)
    candidate[:, -3:] = True  # a strip, partly touching the trusted prior
    fusion = paper_fusion(index, trusted, candidate)
    labels = fusion.labels
    plants, windows = describe_plants(fusion)
    assert len(windows) == len(plants) and all((labels[w] == p.plant_id).sum() == p.pixels
                                               for w, p in zip(windows, plants))
    assert sum(p.pixels for p in plants) == fusion.mask.sum() == np.count_nonzero(labels)
    expected = {frozenset([1]): "trusted", frozenset([2]): "candidate", frozenset([1, 2]): "both"}
    for plant in plants:
        inside = fusion.source[labels == plant.plant_id]
        assert plant.source == expected[frozenset(np.unique(inside).tolist())]
        chosen = fusion.candidate if plant.source == "candidate" else fusion.trusted
        assert plant.threshold == pytest.approx(chosen.choice.threshold)
        assert np.isnan(plant.confidence)
        roles = {"trusted": [fusion.trusted], "candidate": [fusion.candidate],
                 "both": [fusion.trusted, fusion.candidate]}[plant.source]
        assert plant.refined == any(not role.kept_every_pixel for role in roles)


def test_extract_rejects_an_all_nodata_image():
    dn = {role: np.full((3, 3), -32768, np.int16) for role in ROLES}
    with pytest.raises(NoValidPixels):
        extract_pv_plants(ArrayBands(dn, {role: -32768 for role in ROLES}), np.ones((3, 3), bool))


def test_extract_reports_progress_and_honours_cancel(chips):
    dn = bands_by_role(chips["median_9"])
    prior = chips["reference_9"]
    seen = []
    plant_map = extract_pv_plants(dn, prior, method=METHOD_PAPER, progress=Progress(lambda p, m: seen.append(p)))
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(seen) and len(seen) >= 5
    assert [p.plant_id for p in plant_map.plants] == list(range(1, len(plant_map.plants) + 1))
    assert len(plant_map.plants) >= 1
    with pytest.raises(Cancelled):
        extract_pv_plants(dn, prior, method=METHOD_PAPER, progress=Progress(None, lambda: len(seen) > 0))
