"""PV plants from a fused mask: one plant per 8-connected component, with its attributes."""
from dataclasses import dataclass

import numpy as np

from .components import component_sizes, label_components
from .paper import SOURCE_CANDIDATE, SOURCE_TRUSTED

_SOURCE_NAMES = {(True, False): "trusted", (False, True): "candidate", (True, True): "both"}


@dataclass
class Plant:
    """Attributes of one plant (``plant_id`` is its label in the plant raster); NaN = not given by the method."""
    plant_id: int
    pixels: int
    source: str
    threshold: float
    confidence: float
    refined: bool


def _per_label(labels, count, values, select=None):
    """Mean of finite ``values`` per label (NaN where a label has none), over the pixels in ``select``."""
    keep = np.isfinite(values) if select is None else np.isfinite(values) & select
    total = np.bincount(labels[keep], weights=values[keep].astype(np.float64), minlength=count + 1)
    number = np.bincount(labels[keep], minlength=count + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / number


def describe_plants(fusion):
    """Label the plants of a :class:`~.paper.FusionResult` and describe each: (labels int32, [Plant, …]).

    A plant's ``threshold`` and ``confidence`` are those of its trusted pixels when it has any, else of its
    candidate pixels; ``refined`` is False when all its trusted pixels come from a prior kept unchanged.
    """
    labels, count = label_components(fusion.mask)
    sizes = component_sizes(labels, count)
    trusted = fusion.source == SOURCE_TRUSTED
    has_trusted = np.bincount(labels[trusted], minlength=count + 1) > 0
    has_candidate = np.bincount(labels[fusion.source == SOURCE_CANDIDATE], minlength=count + 1) > 0
    refined = np.bincount(labels[fusion.refined], minlength=count + 1) > 0
    attributes = {}
    for name in ("threshold", "confidence"):
        values = getattr(fusion, name)
        attributes[name] = np.where(has_trusted, _per_label(labels, count, values, trusted),
                                    _per_label(labels, count, values))
    plants = [Plant(plant_id, int(sizes[plant_id]), _SOURCE_NAMES[(bool(has_trusted[plant_id]),
                                                                    bool(has_candidate[plant_id]))],
                    float(attributes["threshold"][plant_id]), float(attributes["confidence"][plant_id]),
                    bool(refined[plant_id]))
              for plant_id in range(1, count + 1)]
    return labels, plants
