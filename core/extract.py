"""Extract PV plants from a Sentinel-2 stack and prior masks: the whole pipeline on arrays."""
from dataclasses import dataclass

import numpy as np

from .andpi import ndpi_from_dn, to_reflectance
from .bands import ROLES
from .improved import improved_fusion
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


def fuse(dn_by_role, trusted=None, candidate=None, scale=10000.0, offset=0.0, nodata_by_role=None,
         method=METHOD_PAPER, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """Fused PV mask (a :class:`~.paper.FusionResult`) from DN bands keyed by role and bool prior masks.

    ``trusted`` priors are refined, ``candidate`` priors confirmed or rejected, by the paper method
    (:mod:`.paper`) or the improved one (:mod:`.improved`). Raises :class:`NoValidPixels` for an all-nodata image.
    """
    progress.step(0, "Computing NDPI")
    index, valid = ndpi_from_dn(dn_by_role, scale, offset, nodata_by_role)
    if not valid.any():
        raise NoValidPixels("The image has no valid pixel (all nodata, or B11 reflectance ≤ 0 everywhere).")
    if method == METHOD_PAPER:
        progress.step(20, "Paper method: NDPI histograms of the priors")
        return paper_fusion(index, trusted, candidate, min_area, progress.span(20, 100))
    progress.step(20, "Improved method: prior components against their surroundings")
    reflectance = np.stack([to_reflectance(dn_by_role[role], scale, offset) for role in ROLES], axis=-1)
    return improved_fusion(reflectance, index, valid, trusted, candidate, min_area, progress.span(20, 100))


def extract_pv_plants(dn_by_role, trusted=None, candidate=None, scale=10000.0, offset=0.0, nodata_by_role=None,
                      method=METHOD_PAPER, min_area=DEFAULT_MIN_AREA_PIXELS, progress=NO_PROGRESS):
    """:func:`fuse`, then one plant per connected component with its attributes (a :class:`PlantMap`)."""
    fusion = fuse(dn_by_role, trusted, candidate, scale, offset, nodata_by_role, method, min_area,
                  progress.span(0, 85))
    progress.step(85, "Labelling plants")
    labels, plants = describe_plants(fusion)
    progress.step(100)
    return PlantMap(labels, plants, fusion, METHOD_NAMES[method])
