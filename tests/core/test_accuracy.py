"""Accuracy assessment: pixel metrics against independent counts, one-to-one matching on hand-made cases."""
import numpy as np
import pytest

from fusion_pv_mapping.core import accuracy
from fusion_pv_mapping.core.ndpi import ndpi_from_dn
from fusion_pv_mapping.core.components import label_components
from fusion_pv_mapping.core.paper import paper_fusion
from chip_data import bands_by_role, chip_ids
from flawed_priors import flawed_priors


def independent_metrics(prediction, reference):
    """Textbook formulas from a 2 × 2 confusion matrix built with np.histogram2d (an independent count)."""
    matrix, _, _ = np.histogram2d(prediction.ravel().astype(int), reference.ravel().astype(int), bins=2,
                                  range=[[-0.5, 1.5], [-0.5, 1.5]])
    tn, fn, fp, tp = matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1]
    n = matrix.sum()
    po = (tp + tn) / n
    pe = ((tp + fp) / n) * ((tp + fn) / n) + ((tn + fn) / n) * ((tn + fp) / n)
    return {"IOU": tp / (tp + fp + fn), "F1": 2 * tp / (2 * tp + fp + fn), "PRECISION": tp / (tp + fp),
            "RECALL": tp / (tp + fn), "KAPPA": (po - pe) / (1 - pe), "OVERALL_ACCURACY": po}


def test_pixel_metrics_equal_an_independent_count_on_real_chips(chips):
    """A paper-method output against the reference outline of every bundled chip."""
    compared = 0
    for chip in chip_ids(chips):
        index, _ = ndpi_from_dn(bands_by_role(chips["median_" + chip]))
        reference = chips["reference_" + chip]
        output = paper_fusion(index, None, flawed_priors(reference)["grown1"]).mask
        if not output.any():
            continue
        measured = accuracy.pixel_metrics(output, reference).values
        for name, value in independent_metrics(output, reference).items():
            assert measured[name] == pytest.approx(value, abs=1e-6), (chip, name)
        compared += 1
    assert compared >= 4


def labels_from(rows):
    return np.array([[int(c) for c in row] for row in rows])


def test_matching_is_one_to_one_and_maximises_total_iou():
    # prediction object 1 overlaps references 1 (IoU 4/6) and 2 (IoU 2/6 ... below 0.5); reference 3 is missed;
    # prediction 2 is a false positive
    prediction = labels_from(["1111000", "1111000", "0000022", "0000000"])
    reference = labels_from(["1100330", "1100330", "2200000", "0000000"])
    match = accuracy.match_objects(prediction, reference, 0.5)
    # prediction 1 (8 px) and reference 1 (4 px) share 4: IoU 0.5, matched; reference 2 shares 0
    assert match.prediction_partner[1:].tolist() == [1, 0]
    assert match.reference_partner[1:].tolist() == [1, 0, 0]
    assert match.prediction_iou[1] == pytest.approx(0.5)
    assert match.matched == 1


def test_a_reference_cannot_be_matched_twice():
    # two predictions each cover half of one reference: IoU 0.5 each; only one may be its partner
    prediction = labels_from(["1122", "1122"])
    reference = labels_from(["1111", "1111"])
    match = accuracy.match_objects(prediction, reference, 0.5)
    assert match.matched == 1 and sorted(match.prediction_partner[1:].tolist()) == [0, 1]
    assert match.reference_partner[1] in (1, 2)


def test_assignment_prefers_the_larger_total_iou():
    # IoU(p1, r1) = 2/6, IoU(p1, r2) = 4/8, IoU(p2, r2) = 2/6. Greedy by best pair takes (p1, r2) = 0.5 and stops
    # at one match; the assignment pairs (p1, r1) and (p2, r2), total 0.67
    prediction = labels_from(["11111122"])
    reference = labels_from(["11222222"])
    match = accuracy.match_objects(prediction, reference, 0.3)
    assert match.prediction_partner[1:].tolist() == [1, 2]
    assert match.prediction_iou[1:] == pytest.approx([1 / 3, 1 / 3])


def test_size_classes_by_reference_area():
    prediction = np.zeros((100, 100), int)
    reference = np.zeros((100, 100), int)
    reference[0:5, 0:5] = 1          # 25 px of 0.01 ha = 0.25 ha: < 1 ha
    prediction[0:5, 0:4] = 1         # matched (IoU 0.8)
    reference[20:50, 20:50] = 2      # 900 px = 9 ha: 1–10 ha, missed
    prediction[60:70, 60:70] = 2     # 1 ha, overlaps nothing: false positive of class 1–10 ha
    result = accuracy.assess(prediction, reference, pixel_area_m2=100.0)
    small, medium, large = result.by_size
    assert (small["n_reference"], small["n_prediction"], small["n_matched"]) == (1, 1, 1)
    assert (medium["n_reference"], medium["n_prediction"], medium["n_matched"]) == (1, 1, 0)
    assert large["n_reference"] == 0 and np.isnan(large["OBJECT_RECALL"])
    assert result.object_precision == 0.5 and result.object_recall == 0.5
    assert small["IOU"] == pytest.approx(20 / 25)


def test_undefined_metrics_say_why():
    empty = np.zeros((4, 4), int)
    some = labels_from(["1100", "1100", "0000", "0000"])
    no_reference = accuracy.assess(some, empty, 100.0)
    assert np.isnan(no_reference.pixels.values["RECALL"]) and np.isnan(no_reference.object_recall)
    assert "RECALL: the reference has no PV" in no_reference.undefined
    assert "OBJECT_RECALL: no reference object" in no_reference.undefined
    no_prediction = accuracy.assess(empty, some, 100.0)
    assert np.isnan(no_prediction.pixels.values["PRECISION"]) and no_prediction.pixels.values["RECALL"] == 0
    nothing = accuracy.assess(empty, empty, 100.0)
    assert np.isnan(nothing.pixels.values["IOU"]) and np.isnan(nothing.pixels.values["KAPPA"])
    assert nothing.pixels.values["OVERALL_ACCURACY"] == 1.0
    disjoint = accuracy.assess(some, np.roll(some, 2, axis=1), 100.0)
    assert disjoint.pixels.values["IOU"] == 0 and disjoint.object_recall == 0


def test_labels_of_a_mask_are_objects(chips):
    reference = chips["reference_398"]  # several OSM polygons in one chip
    labels, count = label_components(reference)
    result = accuracy.assess(labels, labels, 100.0)
    assert result.object_precision == result.object_recall == 1.0 and result.objects.matched == count


def test_objects_without_pixels_are_dropped_and_renumbered():
    labels = labels_from(["0330", "0550"])
    compact, kept = accuracy.compact_labels(labels)
    assert kept.tolist() == [3, 5] and compact.tolist() == [[0, 1, 1, 0], [0, 2, 2, 0]]
