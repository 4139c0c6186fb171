"""PV plants from a fused mask: one plant per 8-connected component, with its attributes."""
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .fusion import SOURCE_CANDIDATE, SOURCE_NAMES, SOURCE_TRUSTED
from .windows import flat_indices


@dataclass
class Plant:
    """Attributes of one plant (``plant_id`` is its label in the plant raster); NaN = not given by the method."""
    plant_id: int
    pixels: int
    source: str
    threshold: float
    confidence: float
    refined: bool
    #: Names of the prior products (layers) that overlap the plant, in the order they were given.
    sources: tuple = ()


#: Each further prior product that agrees on a plant halves the doubt left in its confidence.
AGREEMENT_DOUBT = 0.5


def agreed_confidence(confidence, products):
    """A plant's confidence from the image (0–1; NaN stays NaN) raised by the agreement of ``products`` prior
    products that overlap it: 1 − (1 − confidence) × :data:`AGREEMENT_DOUBT` ^ (products − 1). Independent
    products that map the same plant are evidence the image alone does not give."""
    return 1.0 - (1.0 - confidence) * AGREEMENT_DOUBT ** max(products - 1, 0)


def plant_sources(plant_mask, named_layers):
    """Names of the ``named_layers`` ([(name, bool mask)], masks of the plant mask's shape) that share a pixel
    with the plant, each once, in the order given."""
    return tuple(dict.fromkeys(name for name, layer in named_layers if (layer & plant_mask).any()))


def _mean(values):
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def plant_attributes(plant_id, source, groups, threshold_by_group, confidence_by_group, refined_by_group):
    """A :class:`Plant` from the source codes and group ids of its pixels: ``threshold`` and ``confidence`` are
    the mean over its trusted pixels when it has any, else over its candidate pixels; ``refined`` is False when no
    pixel of it comes from a prior the method changed."""
    trusted = source == SOURCE_TRUSTED
    chosen = groups[trusted] if trusted.any() else groups
    return Plant(plant_id, int(source.size),
                 SOURCE_NAMES[(bool(trusted.any()), bool((source == SOURCE_CANDIDATE).any()))],
                 _mean(threshold_by_group[chosen]), _mean(confidence_by_group[chosen]),
                 bool(refined_by_group[groups].any()))


def describe_plants(fusion):
    """Describe the labelled plants of a :class:`~.fusion.FusionResult`: ([Plant, …], [window, …]), each plant
    described within its own window (see :func:`plant_attributes`)."""
    labels = fusion.labels
    width = fusion.mask.shape[1]
    plants, windows = [], []
    for plant_id, window in enumerate(ndimage.find_objects(labels), start=1):
        local = labels[window] == plant_id
        plants.append(plant_attributes(plant_id, fusion.source[window][local],
                                       fusion.groups_at(flat_indices(window, local, width)),
                                       fusion.threshold_by_group, fusion.confidence_by_group,
                                       fusion.refined_by_group))
        windows.append(window)
    return plants, windows


def majority_class(values, nodata=None):
    """Most frequent class among ``values`` (the context pixels under a plant) and its share of all of them;
    nodata (``nodata`` or not finite) counts in the share but never wins. (None, 0.0) when nothing is classed;
    ties go to the lower class."""
    values = np.asarray(values).ravel()
    if values.size == 0:
        return None, 0.0
    classed = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
    if nodata is not None:
        classed &= values != nodata
    if not classed.any():
        return None, 0.0
    classes, counts = np.unique(values[classed], return_counts=True)
    best = int(np.argmax(counts))
    return classes[best].item(), float(counts[best] / values.size)
