"""Every hostile case of ``hostile_cases`` through processing.run: a clear error naming the parameter or a
complete result; inputs byte-identical afterwards, no partial file left."""
import os

import pytest
from qgis.core import QgsProcessingException

from hostile_cases import CASES, build_workspace, copy_workspace, leftovers, snapshot


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_workspace(str(tmp_path_factory.mktemp("hostile") / "template"))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(fusionpv, feedback, tmp_path, template, case):
    import processing
    workspace = str(tmp_path / "ws")
    copy_workspace(template, workspace)
    os.makedirs(os.path.join(workspace, "out"))
    before = snapshot(workspace)
    parameters = case.resolved(workspace)
    if case.error:
        with pytest.raises(QgsProcessingException) as raised:
            processing.run("fusionpv:" + case.algorithm, parameters, feedback=feedback)
        message = " ".join([str(raised.value)] + feedback.errors)
        assert case.error in message, message
    else:
        processing.run("fusionpv:" + case.algorithm, parameters, feedback=feedback)
        for output in case.resolved(workspace).get("__outputs__", ()) or [o.replace("{ws}", workspace)
                                                                          for o in case.outputs]:
            assert os.path.exists(output), output
        if case.warning:
            assert any(case.warning in warning for warning in feedback.warnings), feedback.warnings
    for path in case.absent:
        assert not os.path.exists(path.replace("{ws}", workspace)), path
    after = snapshot(workspace)
    assert {name: digest for name, digest in after.items() if name in before} == before
    assert not leftovers(workspace)


def test_a_curved_prior_is_linearised_not_dropped(fusionpv, feedback, tmp_path, template):
    """A circle (CurvePolygon, 60 m radius) over the chip covers about π · 6² ≈ 113 pixels of 10 m."""
    import processing
    processing.run("fusionpv:extractpvplants", {
        "INPUT": os.path.join(template, "s2.tif"), "TRUSTED_PRIORS": [os.path.join(template, "curved.gpkg")],
        "OUTPUT": str(tmp_path / "plants.gpkg")}, feedback=feedback)
    assert any("curved" in info and "1 polygon(s) reach the image" in info for info in feedback.infos)
    covered = [info for info in feedback.infos if info.startswith("TRUSTED_PRIORS: the priors cover")]
    assert covered, feedback.infos
    pixels = int(covered[0].split("cover ")[1].split(" ")[0])
    assert 100 <= pixels <= 125
    assert not any("does not overlap" in warning for warning in feedback.warnings)


#: One loaded run of each algorithm: (id, parameters with {ws}, the outputs whose style is checked, the renderer
#: type each must have once loaded).
LOADED_RUNS = (
    ("andpi", {"INPUT": "{ws}/s2.tif", "OUTPUT": "{ws}/out/ndpi{n}.tif"}, {"OUTPUT": "singlebandpseudocolor"}),
    ("extractpvplants", {"INPUT": "{ws}/s2.tif", "TRUSTED_PRIORS": ["{ws}/prior.tif"],
                         "OUTPUT": "{ws}/out/plants{n}.gpkg", "OUTPUT_MASK": "{ws}/out/mask{n}.tif"},
     {"OUTPUT": "categorizedSymbol", "OUTPUT_MASK": "paletted"}),
    ("stackbands", {"INPUT": "{ws}/bands", "OUTPUT": "{ws}/out/stack{n}.tif"}, {"OUTPUT": "multibandcolor"}),
    ("clearcomposite", {"INPUT": ["{ws}/series.nc"], "OUTPUT": "{ws}/out/composite{n}.tif"},
     {"OUTPUT": "multibandcolor"}),
    ("assessaccuracy", {"PREDICTION": "{ws}/prediction.gpkg", "REFERENCE": "{ws}/reference.gpkg",
                        "OUTPUT_TABLE": "{ws}/out/accuracy{n}.csv", "OUTPUT_OBJECTS": "{ws}/out/objects{n}.gpkg"},
     {"OUTPUT_OBJECTS": "categorizedSymbol"}),
    ("materialflows", {"INPUT": "{ws}/kamakura.gpkg", "YEAR_FIELD": "year", "AREA_FIELD": "panel_area_m2",
                       "OUTPUT": "{ws}/out/flows{n}.csv"}, {}),
    ("plantsovertime", {"INPUT": ["{ws}/series.nc"], "TRUSTED_PRIORS": ["{ws}/prior.tif"], "PERIOD": "1",
                        "OUTPUT": "{ws}/out/over_time{n}.gpkg", "OUTPUT_PERIODS": "{ws}/out/periods{n}.tif",
                        "OUTPUT_TABLE": "{ws}/out/periods{n}.csv"},
     {"OUTPUT": "categorizedSymbol", "OUTPUT_PERIODS": "paletted"}),
    ("runmodel", {"INPUT": "{ws}/s2.tif", "MODEL": "{ws}/model.onnx", "OUTPUT": "{ws}/out/classes{n}.tif",
                  "OUTPUT_PROBABILITIES": "{ws}/out/probabilities{n}.tif"},
     {"OUTPUT": "paletted", "OUTPUT_PROBABILITIES": "singlebandpseudocolor"}),
)


@pytest.mark.parametrize("algorithm, parameters, styled", LOADED_RUNS, ids=[run[0] for run in LOADED_RUNS])
def test_two_loaded_runs_in_one_session_are_styled(fusionpv, tmp_path, template, algorithm, parameters, styled):
    """As in the desktop: run twice with the results loaded; the second run works and is styled like the first."""
    import processing
    from qgis.core import QgsProject
    workspace = str(tmp_path / "ws")
    copy_workspace(template, workspace)
    os.makedirs(os.path.join(workspace, "out"))
    for number in (1, 2):
        filled = {name: [v.format(ws=workspace, n=number) for v in value] if isinstance(value, list)
                  else value.format(ws=workspace, n=number) for name, value in parameters.items()}
        paths = dict(filled)  # runAndLoadResults replaces the output values of the dict it is given
        results = processing.runAndLoadResults("fusionpv:" + algorithm, filled)
        assert all(os.path.exists(paths[name]) for name in results if name in paths)
        for name, renderer in styled.items():
            layers = [layer for layer in QgsProject.instance().mapLayers().values()
                      if layer.source().split("|")[0] == paths[name]]
            assert layers and layers[0].renderer().type() == renderer, (number, name)
            check_style(algorithm, name, layers[0])


def check_style(algorithm, output, layer):
    """What a user reads off the styled layers: plants over time by status, the first period with PV with a legend
    of the periods, PV probability on its band, the class raster's background transparent."""
    renderer = layer.renderer()
    if (algorithm, output) == ("plantsovertime", "OUTPUT"):
        assert renderer.classAttribute() == "status"
        assert {category.value() for category in renderer.categories()} >= {"built", "present from start",
                                                                             "removed", "not seen"}
    elif (algorithm, output) == ("plantsovertime", "OUTPUT_PERIODS"):
        assert renderer.usesBands() == [layer.bandCount()]  # the band of the first period with PV
        assert [c.label for c in renderer.classes()][:4] == ["2022-Q1", "2022-Q2", "2022-Q3", "2022-Q4"]
    elif (algorithm, output) == ("runmodel", "OUTPUT_PROBABILITIES"):
        assert layer.bandName(renderer.usesBands()[0]).endswith("PV")  # "Band 2: PV"
        assert (renderer.classificationMin(), renderer.classificationMax()) == (0, 1)
        stops = renderer.shader().rasterShaderFunction().colorRampItemList()
        assert stops[0].color.alpha() == 0 and stops[-1].color.alpha() == 255  # clear where the model says no PV
    elif (algorithm, output) == ("runmodel", "OUTPUT"):
        background = [c for c in renderer.classes() if c.value == 0][0]
        assert background.label == "not PV" and background.color.alpha() == 0


@pytest.mark.parametrize("algorithm, parameters, styled", LOADED_RUNS, ids=[run[0] for run in LOADED_RUNS])
def test_temporary_outputs_register_no_phantom_layer(fusionpv, feedback, tmp_path, template, algorithm, parameters,
                                                     styled):
    """Each loaded run with every output TEMPORARY_OUTPUT (the dialog's default): exactly one layer per output is to
    be loaded, and each was written; checking the destinations before the run registers none (else QGIS says
    "layers were not correctly generated")."""
    import processing
    from qgis.core import (QgsMapLayer, QgsProcessing, QgsProcessingContext, QgsProcessingOutputLayerDefinition,
                           QgsProcessingParameterFileDestination, QgsProject)
    workspace = str(tmp_path / "ws")
    copy_workspace(template, workspace)
    algorithm_object = processing.core.Processing.QgsApplication.processingRegistry().algorithmById(
        "fusionpv:" + algorithm)
    layer_outputs = [definition.name() for definition in algorithm_object.destinationParameterDefinitions()
                     if definition.name() in parameters or not definition.flags() & definition.Flag.FlagOptional]
    filled = {name: [v.format(ws=workspace) for v in value] if isinstance(value, list)
              else value.format(ws=workspace) if isinstance(value, str) else value
              for name, value in parameters.items() if name not in layer_outputs}
    for name in layer_outputs:
        filled[name] = QgsProcessingOutputLayerDefinition(QgsProcessing.TEMPORARY_OUTPUT, QgsProject.instance())
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    results = processing.run("fusionpv:" + algorithm, filled, context=context, feedback=feedback)
    to_load = context.layersToLoadOnCompletion()
    file_outputs = [name for name in layer_outputs if isinstance(
        algorithm_object.parameterDefinition(name), QgsProcessingParameterFileDestination)]
    assert len(to_load) == len(layer_outputs) - len(file_outputs), (list(to_load), layer_outputs)
    # processing.run hands memory layers over as layer objects, taken out of the context
    returned_layers = {value.id() for value in results.values() if isinstance(value, QgsMapLayer)}
    for path in to_load:
        assert os.path.exists(path.split("|")[0]) or path in returned_layers, path
    assert all(results[name] for name in layer_outputs)
