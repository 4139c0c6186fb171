"""Extract PV plants from a Sentinel-2 stack and prior masks: the whole pipeline on arrays."""
from dataclasses import dataclass

import numpy as np

from .andpi import ndpi_from_dn
from .paper import DEFAULT_MIN_AREA_PIXELS, FusionResult, paper_fusion
from .plants import describe_plants
from .progress import NO_PROGRESS

METHOD_PAPER = 0
METHOD_IMPROVED = 1
METHOD_NAMES = {METHOD_PAPER: "paper", METHOD_IMPROVED: "improved"}


class NoValidPixels(ValueError):
    """The image has no pixel where the index can be computed."""


@dataclass
class PlantMap:
    """Result of :func:`extract_pv_plants`: plant labels (int32, 0 = none), plant attributes, the fusion detail."""
    labels: np.ndarray
    plants: list
    fusion: FusionResult
    method: str


def extract_pv_plants(dn_by_role, trusted=None, candidate=None, scale=10000.0, offset=0.0, nodata_by_role=None,
                      method=METHOD_PAPER, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """Map PV plants from DN bands keyed by role (BLUE, GREEN, RED, NIR, SWIR1, SWIR2) and bool prior masks.

    ``trusted`` priors are refined, ``candidate`` priors confirmed or rejected (see :mod:`.paper`). The improved
    method is not available yet and runs the paper method. Raises :class:`NoValidPixels` for an all-nodata image.
    """
    progress.step(0, "Computing NDPI")
    index, valid = ndpi_from_dn(dn_by_role, scale, offset, nodata_by_role)
    if not valid.any():
        raise NoValidPixels("The image has no valid pixel (all nodata, or B11 reflectance ≤ 0 everywhere).")
    fusion = paper_fusion(index, trusted, candidate, min_area, progress.span(20, 85))
    progress.step(85, "Labelling plants")
    labels, plants = describe_plants(fusion.mask, fusion.source, fusion.trusted, fusion.candidate)
    progress.step(100)
    return PlantMap(labels, plants, fusion, METHOD_NAMES[METHOD_PAPER])
