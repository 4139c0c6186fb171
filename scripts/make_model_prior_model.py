"""Writes ``resources/models/model_prior_plants.model3``: the graphical model Run ONNX model → Extract PV plants,
with the model's PV probability as the candidate prior (run with QGIS's Python: ``/usr/bin/python3``)."""
import os
import sys

from qgis.PyQt.QtCore import QPointF
from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                       QgsProcessingModelChildParameterSource, QgsProcessingModelOutput, QgsProcessingModelParameter,
                       QgsProcessingParameterFile, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterLayer, QgsProcessing)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "resources", "models", "model_prior_plants.model3")


def source_from_input(name):
    return QgsProcessingModelChildParameterSource.fromModelParameter(name)


def set_remaining_defaults(child):
    """Every input parameter of ``child`` not fed by the model gets its default as a static value, as the Model
    Designer does: without it the designer shows the child invalid ("Parameter … is mandatory")."""
    algorithm = QgsApplication.processingRegistry().algorithmById(child.algorithmId())
    if algorithm is None:
        raise SystemExit("%s is not registered: is the plugin importable?" % child.algorithmId())
    for definition in algorithm.parameterDefinitions():
        if not definition.isDestination() and definition.name() not in child.parameterSources():
            child.addParameterSources(definition.name(), [
                QgsProcessingModelChildParameterSource.fromStaticValue(definition.defaultValue())])


def build():
    """The model: inputs ``image`` (a Sentinel-2 stack, DN), ``onnx_model`` and optional ``trusted_priors``;
    output ``plants``."""
    model = QgsProcessingModelAlgorithm("PV plants with a model prior", "Fusion PV Mapping")
    for number, parameter in enumerate([
            QgsProcessingParameterRasterLayer("image", "Sentinel-2 image"),
            QgsProcessingParameterFile("onnx_model", "PV segmentation model (ONNX)",
                                       QgsProcessingParameterFile.Behavior.File, "onnx"),
            QgsProcessingParameterMultipleLayers("trusted_priors", "Trusted PV priors",
                                                 QgsProcessing.SourceType.TypeMapLayer, optional=True)]):
        component = QgsProcessingModelParameter(parameter.name())
        component.setPosition(QPointF(120 + 230 * number, 60))
        model.addModelParameter(parameter, component)

    run_model = QgsProcessingModelChildAlgorithm("fusionpv:runmodel")
    run_model.setChildId("runmodel")
    run_model.setDescription("Run ONNX model")
    run_model.addParameterSources("INPUT", [source_from_input("image")])
    run_model.addParameterSources("MODEL", [source_from_input("onnx_model")])
    run_model.setPosition(QPointF(230, 200))
    set_remaining_defaults(run_model)
    model.addChildAlgorithm(run_model)

    extract = QgsProcessingModelChildAlgorithm("fusionpv:extractpvplants")
    extract.setChildId("extractpvplants")
    extract.setDescription("Extract PV plants")
    extract.addParameterSources("INPUT", [source_from_input("image")])
    extract.addParameterSources("TRUSTED_PRIORS", [source_from_input("trusted_priors")])
    extract.addParameterSources("CANDIDATE_PRIORS", [
        QgsProcessingModelChildParameterSource.fromChildOutput("runmodel", "OUTPUT_PROBABILITIES")])
    extract.addParameterSources("CONTEXT", [
        QgsProcessingModelChildParameterSource.fromChildOutput("runmodel", "OUTPUT")])
    extract.setPosition(QPointF(350, 340))
    plants = QgsProcessingModelOutput("plants", "PV plants")
    plants.setPosition(QPointF(520, 440))
    plants.setChildId("extractpvplants")
    plants.setChildOutputName("OUTPUT")
    extract.setModelOutputs({"plants": plants})
    set_remaining_defaults(extract)
    model.addChildAlgorithm(extract)
    return model


def main():
    QgsApplication.setPrefixPath("/usr", True)
    application = QgsApplication([], False)
    application.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    Processing.initialize()
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import conftest  # noqa: F401 (makes this checkout importable as the package fusion_pv_mapping)
    from fusion_pv_mapping.plugin import FusionPvMappingPlugin
    plugin = FusionPvMappingPlugin()
    plugin.initProcessing()
    model = build()
    if not model.toFile(TARGET):
        raise SystemExit("could not write %s" % TARGET)
    print(TARGET)


if __name__ == "__main__":
    main()
