"""Accuracy of a PV map against a reference: pixel metrics, one-to-one object matching, plant-size classes.

Overall accuracy is inflated by the huge majority of non-PV pixels, so the PV class is measured with IoU, F1,
precision and recall; Cohen's kappa corrects overall accuracy for chance. Objects (plants) are matched one to one
at IoU ≥ a threshold, maximising the total IoU of the matches (Hungarian assignment). A metric whose denominator is
zero is undefined: it is NaN and the reason is given.
"""
from dataclasses import dataclass, field

import numpy as np

#: Plant-size classes by reference area (ha): (name, lower bound, upper bound).
SIZE_CLASSES = (("< 1 ha", 0.0, 1.0), ("1–10 ha", 1.0, 10.0), ("> 10 ha", 10.0, float("inf")))
#: Square metres per hectare.
M2_PER_HECTARE = 10000.0
PIXEL_METRICS = ("IOU", "F1", "PRECISION", "RECALL", "KAPPA", "OVERALL_ACCURACY")


def _ratio(numerator, denominator, what, notes):
    if denominator == 0:
        notes.append(what)
        return float("nan")
    return numerator / denominator


@dataclass
class PixelMetrics:
    """Confusion counts and metrics of the PV class; ``undefined`` says which metrics are NaN and why."""
    tp: int
    fp: int
    fn: int
    tn: int
    values: dict
    undefined: list = field(default_factory=list)


def pixel_metrics(prediction, reference, region=None):
    """Pixel metrics of bool ``prediction`` against bool ``reference``, over ``region`` (default: every pixel)."""
    if region is None:
        region = np.ones(np.shape(reference), bool)
    tp = int(np.count_nonzero(prediction & reference & region))
    fp = int(np.count_nonzero(prediction & ~reference & region))
    fn = int(np.count_nonzero(~prediction & reference & region))
    tn = int(np.count_nonzero(region)) - tp - fp - fn
    return metrics_from_counts(tp, fp, fn, tn)


def metrics_from_counts(tp, fp, fn, tn):
    """:class:`PixelMetrics` from confusion counts."""
    notes = []
    total = tp + fp + fn + tn
    accuracy = _ratio(tp + tn, total, "OVERALL_ACCURACY: no pixel", notes)
    # chance agreement from the marginals; kappa is undefined when it is 1 (both maps of one single class)
    chance = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / total ** 2 if total else 1.0
    kappa = _ratio(accuracy - chance, 1.0 - chance, "KAPPA: both maps hold one single class", notes)
    values = {
        "IOU": _ratio(tp, tp + fp + fn, "IOU, F1: no PV in the prediction nor in the reference", notes),
        "F1": float("nan") if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn),
        "PRECISION": _ratio(tp, tp + fp, "PRECISION: the prediction has no PV", notes),
        "RECALL": _ratio(tp, tp + fn, "RECALL: the reference has no PV", notes),
        "KAPPA": kappa,
        "OVERALL_ACCURACY": accuracy,
    }
    return PixelMetrics(tp, fp, fn, tn, values, notes)


@dataclass
class ObjectMatch:
    """One-to-one matching of prediction objects (labels 1…n) to reference objects (labels 1…m)."""
    prediction_partner: np.ndarray  # per prediction object (index 0 unused): matched reference label, 0 = none
    reference_partner: np.ndarray
    prediction_iou: np.ndarray  # IoU with the partner, or best IoU with any reference object when unmatched
    reference_iou: np.ndarray
    prediction_pixels: np.ndarray
    reference_pixels: np.ndarray

    @property
    def matched(self):
        return int(np.count_nonzero(self.prediction_partner[1:]))


def compact_labels(labels):
    """Renumber objects 1…n in order, dropping labels that cover no pixel: (labels, kept old labels)."""
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=1)[1:]) + 1
    new_ids = np.zeros(int(labels.max(initial=0)) + 1, np.int32)
    new_ids[present] = np.arange(1, present.size + 1, dtype=np.int32)
    return new_ids[labels], present


def object_overlaps(prediction_labels, reference_labels):
    """Pixels shared by each (prediction, reference) pair of overlapping objects: (pairs (k, 2), counts (k,))."""
    both = (prediction_labels > 0) & (reference_labels > 0)
    pairs = np.stack([prediction_labels[both], reference_labels[both]], axis=1).astype(np.int64)
    if not len(pairs):
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    return unique, counts


def match_objects(prediction_labels, reference_labels, min_iou=0.5):
    """Match objects one to one at IoU ≥ ``min_iou``, maximising the total IoU of the matches."""
    from scipy.optimize import linear_sum_assignment
    n_prediction, n_reference = int(prediction_labels.max(initial=0)), int(reference_labels.max(initial=0))
    prediction_pixels = np.bincount(prediction_labels[prediction_labels > 0], minlength=n_prediction + 1)
    reference_pixels = np.bincount(reference_labels[reference_labels > 0], minlength=n_reference + 1)
    pairs, shared = object_overlaps(prediction_labels, reference_labels)
    iou = shared / (prediction_pixels[pairs[:, 0]] + reference_pixels[pairs[:, 1]] - shared) if len(pairs) else \
        np.zeros(0)
    best_prediction = np.zeros(n_prediction + 1)
    best_reference = np.zeros(n_reference + 1)
    np.maximum.at(best_prediction, pairs[:, 0], iou)
    np.maximum.at(best_reference, pairs[:, 1], iou)
    prediction_partner = np.zeros(n_prediction + 1, np.int64)
    reference_partner = np.zeros(n_reference + 1, np.int64)
    prediction_iou, reference_iou = best_prediction.copy(), best_reference.copy()
    eligible = iou >= min_iou
    if eligible.any():
        rows, row_index = np.unique(pairs[eligible, 0], return_inverse=True)
        cols, col_index = np.unique(pairs[eligible, 1], return_inverse=True)
        cost = np.zeros((len(rows), len(cols)))
        cost[row_index, col_index] = -iou[eligible]
        for r, c in zip(*linear_sum_assignment(cost)):
            if cost[r, c] < 0:
                prediction_partner[rows[r]], reference_partner[cols[c]] = cols[c], rows[r]
                prediction_iou[rows[r]] = reference_iou[cols[c]] = -cost[r, c]
    return ObjectMatch(prediction_partner, reference_partner, prediction_iou, reference_iou, prediction_pixels,
                       reference_pixels)


def size_class_of(hectares):
    """Index in :data:`SIZE_CLASSES` of an area in ha."""
    for index, (_, low, high) in enumerate(SIZE_CLASSES):
        if low <= hectares < high:
            return index
    return len(SIZE_CLASSES) - 1


@dataclass
class Assessment:
    """Everything the accuracy assessment reports."""
    pixels: PixelMetrics
    objects: ObjectMatch
    object_precision: float
    object_recall: float
    by_size: list  # per size class: dict of counts and metrics
    undefined: list


def assess(prediction_labels, reference_labels, pixel_area_m2, min_iou=0.5, region=None):
    """Assess labelled prediction objects against labelled reference objects on one grid (0 = not PV)."""
    prediction, reference = prediction_labels > 0, reference_labels > 0
    pixels = pixel_metrics(prediction, reference, region)
    match = match_objects(prediction_labels, reference_labels, min_iou)
    notes = list(pixels.undefined)
    n_prediction, n_reference = len(match.prediction_pixels) - 1, len(match.reference_pixels) - 1
    object_precision = _ratio(match.matched, n_prediction, "OBJECT_PRECISION: no prediction object", notes)
    object_recall = _ratio(match.matched, n_reference, "OBJECT_RECALL: no reference object", notes)
    return Assessment(pixels, match, object_precision, object_recall,
                      size_classes(prediction_labels, reference_labels, match, pixel_area_m2), notes)


def size_classes(prediction_labels, reference_labels, match, pixel_area_m2):
    """Per plant-size class (by reference area): counts, object precision/recall and pixel metrics.

    A reference object belongs to the class of its area. A prediction object belongs to the class of the
    reference object it overlaps most (its partner when matched), or of its own area when it overlaps none.
    Pixel metrics of a class are counted over the pixels of its reference and prediction objects.
    """
    hectares = pixel_area_m2 / M2_PER_HECTARE
    reference_class = np.array([-1] + [size_class_of(n * hectares) for n in match.reference_pixels[1:]])
    pairs, shared = object_overlaps(prediction_labels, reference_labels)
    most = np.zeros(len(match.prediction_pixels), np.int64)
    most_shared = np.zeros(len(match.prediction_pixels), np.int64)
    for (p, r), count in zip(pairs, shared):
        if count > most_shared[p]:
            most[p], most_shared[p] = r, count
    partner = np.where(match.prediction_partner > 0, match.prediction_partner, most)
    prediction_class = np.array([-1] + [reference_class[partner[p]] if partner[p] else
                                        size_class_of(match.prediction_pixels[p] * hectares)
                                        for p in range(1, len(match.prediction_pixels))])
    rows = []
    for index, (name, _, _) in enumerate(SIZE_CLASSES):
        in_reference = reference_class[reference_labels] == index
        in_prediction = prediction_class[prediction_labels] == index
        region = in_reference | in_prediction
        metrics = pixel_metrics(prediction_labels > 0, reference_labels > 0, region)
        n_reference = int(np.count_nonzero(reference_class == index))
        n_prediction = int(np.count_nonzero(prediction_class == index))
        matched = int(np.count_nonzero((reference_class == index) & (match.reference_partner > 0)))
        notes = []
        rows.append({"class": name, "n_reference": n_reference, "n_prediction": n_prediction, "n_matched": matched,
                     "OBJECT_RECALL": _ratio(matched, n_reference, "no reference object", notes),
                     "OBJECT_PRECISION": _ratio(
                         int(np.count_nonzero((prediction_class == index) & (match.prediction_partner > 0))),
                         n_prediction, "no prediction object", notes),
                     "IOU": metrics.values["IOU"], "F1": metrics.values["F1"],
                     "PRECISION": metrics.values["PRECISION"], "RECALL": metrics.values["RECALL"],
                     "note": "; ".join(notes)})
    return rows
