"""The ``fusionpv`` processing provider."""
import os

from qgis.PyQt.QtGui import QIcon
from qgis.core import QgsProcessingProvider

from .andpi_algorithm import AndpiAlgorithm
from .assess_accuracy_algorithm import AssessAccuracyAlgorithm
from .clear_composite_algorithm import ClearCompositeAlgorithm
from .extract_pv_plants_algorithm import ExtractPvPlantsAlgorithm
from .material_flows_algorithm import MaterialFlowsAlgorithm
from .stack_bands_algorithm import StackBandsAlgorithm

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources")


class FusionPvProvider(QgsProcessingProvider):
    """Provider ``fusionpv`` ("Fusion PV Mapping")."""

    def loadAlgorithms(self):  # noqa: N802 (QGIS API name)
        for algorithm in (AndpiAlgorithm(), ExtractPvPlantsAlgorithm(), AssessAccuracyAlgorithm(),
                          MaterialFlowsAlgorithm(), StackBandsAlgorithm(), ClearCompositeAlgorithm()):
            self.addAlgorithm(algorithm)

    def id(self):
        return "fusionpv"

    def name(self):
        return "Fusion PV Mapping"

    def longName(self):  # noqa: N802 (QGIS API name)
        return self.name()

    def icon(self):
        return QIcon(os.path.join(RESOURCES, "icon.svg"))

    def svgIconPath(self):  # noqa: N802 (QGIS API name)
        return os.path.join(RESOURCES, "icon.svg")
