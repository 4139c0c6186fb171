"""PV plants from a fused mask: one plant per 8-connected component, with its attributes."""
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .bandsource import flat_indices
from .components import label_components
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


def _mean(values):
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def describe_plants(fusion):
    """Label the plants of a :class:`~.fusion_result.FusionResult`: (labels int32, [Plant, …], [window, …]).

    Each plant is described within its own window. Its ``threshold`` and ``confidence`` are the mean over its
    trusted pixels when it has any, else over its candidate pixels; ``refined`` is False when no pixel of it comes
    from a prior the method changed.
    """
    labels = fusion.labels
    if labels is None:
        labels, _ = label_components(fusion.mask)
    width = fusion.mask.shape[1]
    plants, windows = [], []
    for plant_id, window in enumerate(ndimage.find_objects(labels), start=1):
        local = labels[window] == plant_id
        groups = fusion.groups_at(flat_indices(window, local, width))
        source = fusion.source[window][local]
        trusted = source == SOURCE_TRUSTED
        chosen = groups[trusted] if trusted.any() else groups
        plants.append(Plant(plant_id, int(local.sum()),
                            _SOURCE_NAMES[(bool(trusted.any()), bool((source == SOURCE_CANDIDATE).any()))],
                            _mean(fusion.threshold_by_group[chosen]), _mean(fusion.confidence_by_group[chosen]),
                            bool(fusion.refined_by_group[groups].any())))
        windows.append(window)
    return labels, plants, windows
