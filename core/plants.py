"""PV plants from a fused mask: one plant per 8-connected component, with its attributes."""
from dataclasses import dataclass

import numpy as np

from .components import component_sizes, label_components
from .paper import SOURCE_CANDIDATE, SOURCE_TRUSTED


@dataclass
class Plant:
    """Attributes of one plant (``plant_id`` is its label in the plant raster)."""
    plant_id: int
    pixels: int
    source: str
    threshold: float = None
    refined: bool = True


def _has_source(labels, count, source, code):
    """Per label: does the component contain pixels of source ``code``?"""
    return np.bincount(labels[source == code], minlength=count + 1) > 0


def describe_plants(mask, source, trusted_result, candidate_result):
    """Label plants in a bool ``mask`` and describe each: (labels int32, [Plant, …]).

    ``source`` holds per pixel 1 (from a trusted prior), 2 (confirmed candidate) or 0. A plant's ``threshold`` is
    that of the trusted prior when it holds trusted pixels, else that of the candidates; ``refined`` is False
    where the trusted prior was kept whole by the 80 % guard.
    """
    labels, count = label_components(mask)
    sizes = component_sizes(labels, count)
    trusted = _has_source(labels, count, source, SOURCE_TRUSTED)
    candidate = _has_source(labels, count, source, SOURCE_CANDIDATE)
    plants = []
    for plant_id in range(1, count + 1):
        if trusted[plant_id]:
            result = trusted_result
            kind = "both" if candidate[plant_id] else "trusted"
        else:
            result, kind = candidate_result, "candidate"
        plants.append(Plant(plant_id, int(sizes[plant_id]), kind, result.choice.threshold,
                            not (kind != "candidate" and trusted_result.kept_whole_prior)))
    return labels, plants
