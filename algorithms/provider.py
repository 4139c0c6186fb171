"""The ``fusionpv`` processing provider."""
import os

from qgis.PyQt.QtGui import QIcon
from qgis.core import QgsProcessingProvider

from ..gisio.outputs import RESOURCES
from .assess_accuracy_algorithm import AssessAccuracyAlgorithm
from .capacity_algorithm import CapacityAlgorithm
from .clear_composite_algorithm import ClearCompositeAlgorithm
from .extract_pv_plants_algorithm import ExtractPvPlantsAlgorithm
from .map_region_algorithm import MapRegionAlgorithm
from .material_flows_algorithm import MaterialFlowsAlgorithm
from .multisource_stack_algorithm import MultisourceStackAlgorithm
from .ndpi_algorithm import NdpiAlgorithm
from .plants_over_time_algorithm import PlantsOverTimeAlgorithm
from .run_model_algorithm import RunModelAlgorithm
from .search_imagery_algorithm import SearchImageryAlgorithm
from .stack_bands_algorithm import StackBandsAlgorithm

ALGORITHMS = (NdpiAlgorithm, ExtractPvPlantsAlgorithm, AssessAccuracyAlgorithm, MaterialFlowsAlgorithm,
              StackBandsAlgorithm, ClearCompositeAlgorithm, PlantsOverTimeAlgorithm, RunModelAlgorithm,
              MultisourceStackAlgorithm, MapRegionAlgorithm, SearchImageryAlgorithm, CapacityAlgorithm)


class FusionPvProvider(QgsProcessingProvider):
    """Provider ``fusionpv`` ("Fusion PV Mapping")."""

    def loadAlgorithms(self):  # noqa: N802 (QGIS API name)
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())

    def id(self):
        return "fusionpv"

    def name(self):
        return "Fusion PV Mapping"

    def longName(self):  # noqa: N802 (QGIS API name)
        return self.name()

    def icon(self):
        return QIcon(self.svgIconPath())

    def svgIconPath(self):  # noqa: N802 (QGIS API name)
        return os.path.join(RESOURCES, "icon.svg")
