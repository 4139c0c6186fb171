"""fusionpv:runmodel on real Sentinel-2 data with the shipped PV segmenter and a built LCZ patch classifier, and the
model's PV probability and classes used by fusionpv:extractpvplants (candidate prior and CONTEXT)."""
import os

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsProcessingException, QgsVectorLayer

from fusion_pv_mapping.core import model_runner as runner
from fusion_pv_mapping.core.onnx_model import read_onnx
from onnx_builder import model as build_model, node
from onnx_reference import evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
MODEL = os.path.join(ROOT, "resources", "models", "pv_segmenter.onnx")
VIRGINIA = os.path.join(DATA, "s2_scenes", "virginia_18SVG_20160112_L1C_crop")
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def run(algorithm, parameters, feedback):
    import processing
    return processing.run("fusionpv:" + algorithm, parameters, feedback=feedback)


@pytest.fixture(scope="module")
def virginia_stack(tmp_path_factory):
    """The real 200 × 200 L1C crop as one GeoTIFF, bands described B02…B12 (B11, B12 at 20 m taken nearest)."""
    folder = tmp_path_factory.mktemp("virginia")
    first = gdal.Open(os.path.join(VIRGINIA, "s2_B02.tif"))
    x0, dx, _, y0, _, dy = first.GetGeoTransform()
    bounds = (x0, y0 + dy * first.RasterYSize, x0 + dx * first.RasterXSize, y0)
    vrt = gdal.BuildVRT(str(folder / "stack.vrt"), [os.path.join(VIRGINIA, "s2_%s.tif" % b) for b in BANDS],
                        separate=True, resolution="highest", outputBounds=bounds)
    path = str(folder / "stack.tif")
    gdal.Translate(path, vrt)
    vrt = None
    dataset = gdal.Open(path, gdal.GA_Update)
    for number, name in enumerate(BANDS, start=1):
        dataset.GetRasterBand(number).SetDescription(name)
    dataset = None
    return path


def read(path):
    dataset = gdal.Open(path)
    return dataset.ReadAsArray().astype(np.float64), dataset


def reference_output(path, valid=None):
    """The whole-image network output (no tiles) of the shipped model on a stack, by the numpy reference."""
    values = gdal.Open(path).ReadAsArray().astype(np.float32)
    valid = np.ones(values.shape[1:], bool) if valid is None else valid
    settings = runner.run_settings(runner.read_model_spec(MODEL), 6)
    return evaluate(read_onnx(MODEL, with_weights=True), runner.standardised(values, valid, settings))[0]


@pytest.mark.parametrize("tile_size", [64, 100])
def test_tiles_equal_the_whole_image_network(fusionpv, feedback, virginia_stack, tmp_path, tile_size):
    classes = str(tmp_path / "classes.tif")
    probabilities = str(tmp_path / "probabilities.tif")
    run("runmodel", {"INPUT": virginia_stack, "MODEL": MODEL, "TILE_SIZE": tile_size, "OVERLAP": 4,
                     "BACKEND": runner.BACKEND_OPENCV, "OUTPUT": classes, "OUTPUT_PROBABILITIES": probabilities},
        feedback)
    expected = reference_output(virginia_stack)
    found, dataset = read(probabilities)
    assert found.shape == (2, 200, 200)
    assert np.abs(found - expected).max() < 1e-4
    assert [dataset.GetRasterBand(b).GetDescription() for b in (1, 2)] == ["not PV", "PV"]
    class_values, class_dataset = read(classes)
    assert np.array_equal(class_values, np.argmax(expected, axis=0))
    band = class_dataset.GetRasterBand(1)
    assert band.GetNoDataValue() == runner.CLASS_NODATA
    assert band.GetCategoryNames() == ["not PV", "PV"]  # (GDAL 3.6 reads them only after another band property)
    assert band.GetColorTable().GetCount() >= 2
    assert any("Tiles of %d px with 4 px overlap" % tile_size in line for line in feedback.infos)
    assert any("bands 1, 2, 3, 4, 5, 6" in line for line in feedback.infos)  # found by band description


def test_auto_backend_takes_onnx_runtime_when_installed(fusionpv, feedback, virginia_stack, tmp_path):
    """Auto logs ONNX Runtime where onnxruntime imports (make's .venv-qgis-engines), else OpenCV DNN; the
    explicit ONNX Runtime back-end gives the OpenCV result within 1e-4."""
    outputs = {}
    for backend in (runner.BACKEND_AUTO, runner.BACKEND_OPENCV, runner.BACKEND_ONNXRUNTIME):
        if backend == runner.BACKEND_ONNXRUNTIME and not runner.backend_available(backend):
            with pytest.raises(QgsProcessingException, match="BACKEND: ONNX Runtime is not installed"):
                run("runmodel", {"INPUT": virginia_stack, "MODEL": MODEL, "BACKEND": backend,
                                 "OUTPUT": str(tmp_path / "never.tif")}, feedback)
            continue
        outputs[backend] = str(tmp_path / ("p%d.tif" % backend))
        run("runmodel", {"INPUT": virginia_stack, "MODEL": MODEL, "BACKEND": backend, "OUTPUT": str(tmp_path / "c.tif"),
                         "OUTPUT_PROBABILITIES": outputs[backend]}, feedback)
    expected = "ONNX Runtime" if runner.backend_available(runner.BACKEND_ONNXRUNTIME) else "OpenCV DNN"
    assert [line for line in feedback.infos if line.startswith("Back-end:")][0].startswith("Back-end: " + expected)
    found = [read(path)[0] for path in outputs.values()]
    assert all(np.abs(other - found[0]).max() < 1e-4 for other in found[1:])


def test_nodata_input_stays_nodata(fusionpv, feedback, virginia_stack, tmp_path):
    holed = str(tmp_path / "holed.tif")
    gdal.Translate(holed, virginia_stack, noData=0)
    dataset = gdal.Open(holed, gdal.GA_Update)
    for number in range(1, 7):
        values = dataset.GetRasterBand(number).ReadAsArray()
        values[50:80, 120:160] = 0
        dataset.GetRasterBand(number).WriteArray(values)
    dataset = None
    classes, probabilities = str(tmp_path / "c.tif"), str(tmp_path / "p.tif")
    run("runmodel", {"INPUT": holed, "MODEL": MODEL, "TILE_SIZE": 48, "OVERLAP": 4, "OUTPUT": classes,
                     "OUTPUT_PROBABILITIES": probabilities}, feedback)
    class_values, _ = read(classes)
    found, _ = read(probabilities)
    hole = np.zeros((200, 200), bool)
    hole[50:80, 120:160] = True
    assert np.all(class_values[hole] == runner.CLASS_NODATA) and np.all(np.isnan(found[:, hole]))
    assert not np.any(class_values[~hole] == runner.CLASS_NODATA)
    assert np.abs(found[:, ~hole] - reference_output(holed, ~hole)[:, ~hole]).max() < 1e-4


def test_lcz_patch_classifier_gives_one_class_per_patch(fusionpv, feedback, virginia_stack, tmp_path):
    weight = np.random.default_rng(11).normal(size=(17, 6, 1, 1)).astype(np.float32)
    model = tmp_path / "lcz.onnx"
    model.write_bytes(build_model(
        [node("GlobalAveragePool", ["input"], ["pooled"]),
         node("Conv", ["pooled", "w"], ["logits"], kernel_shape=[1, 1]),
         node("Flatten", ["logits"], ["flat"], axis=1), node("Softmax", ["flat"], ["output"], axis=1)],
        ["batch", 6, 32, 32], ["batch", 17], {"w": weight},
        {"model_type": "Recognition", "standardization_mean": [0.1], "standardization_std": [0.05]}))
    classes, probabilities = str(tmp_path / "lcz.tif"), str(tmp_path / "lcz_p.tif")
    run("runmodel", {"INPUT": virginia_stack, "MODEL": str(model), "MODE": runner.MODE_PATCHES, "PATCH_SIZE": 32,
                     "INPUT_SCALE": 10000, "OUTPUT": classes, "OUTPUT_PROBABILITIES": probabilities}, feedback)
    class_values, dataset = read(classes)
    assert class_values.shape == (7, 7)  # 200 / 32 rounded up
    assert dataset.GetGeoTransform()[1] == 320
    band = dataset.GetRasterBand(1)
    assert band.GetNoDataValue() == runner.CLASS_NODATA
    assert band.GetCategoryNames()[16] == "LCZ G water"
    assert band.GetColorTable().GetColorEntry(16)[:3] == (0x6a, 0x6a, 0xff)
    stack = gdal.Open(virginia_stack).ReadAsArray().astype(np.float32)
    patch = (stack[:, 64:96, 32:64] / 10000 - 0.1) / 0.05
    logits = weight[:, :, 0, 0] @ patch.mean(axis=(1, 2))
    assert class_values[2, 1] == np.argmax(logits)
    found, _ = read(probabilities)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.abs(found[:, 2, 1] - expected).max() < 1e-4
    assert class_values[6, 6] == runner.CLASS_NODATA  # 8 × 8 of 32 × 32 pixels inside the image


@pytest.mark.parametrize("parameters, message", [
    ({"MODEL": os.path.join(DATA, "austria_pv", "pv_mask_9.tif")}, "MODEL: .* is not a valid value"),
    ({"MODEL": "not_onnx"}, "MODEL: .* is not an ONNX model"),
    ({"BANDS": [1, 2, 3, 4]}, "BANDS: the model takes 6 channels but 4"),
    ({"MODE": runner.MODE_PATCHES}, "MODE: the model is a segmentation model"),
    ({"TILE_SIZE": 16, "OVERLAP": 8}, "OVERLAP: the overlap"),
])
def test_bad_model_parameters_are_named(fusionpv, feedback, virginia_stack, tmp_path, parameters, message):
    output = str(tmp_path / "never.tif")
    if parameters.get("MODEL") == "not_onnx":  # a GeoTIFF named .onnx
        parameters = {"MODEL": str(tmp_path / "mask.onnx")}
        with open(os.path.join(DATA, "austria_pv", "pv_mask_9.tif"), "rb") as source:
            (tmp_path / "mask.onnx").write_bytes(source.read())
    with pytest.raises(QgsProcessingException, match=message):
        run("runmodel", dict({"INPUT": virginia_stack, "MODEL": MODEL, "OUTPUT": output}, **parameters), feedback)
    assert not os.path.exists(output)


def test_model_prior_and_context_in_extract_pv_plants(fusionpv, feedback, tmp_path):
    """The model's PV probability is a candidate prior; its class raster, reprojected to WGS 84, is the CONTEXT."""
    chip = os.path.join(DATA, "austria_pv", "S2L2A_2022_clearmedian_152.tif")
    classes, probabilities = str(tmp_path / "classes.tif"), str(tmp_path / "probability.tif")
    run("runmodel", {"INPUT": chip, "MODEL": MODEL, "OUTPUT": classes, "OUTPUT_PROBABILITIES": probabilities},
        feedback)
    context = str(tmp_path / "classes_4326.tif")
    gdal.Warp(context, classes, dstSRS="EPSG:4326", resampleAlg="near")
    warped = gdal.Open(context, gdal.GA_Update)
    warped.GetRasterBand(1).SetCategoryNames(["not PV", "PV"])  # GDAL's warp drops the names
    warped = None
    plants = str(tmp_path / "plants.gpkg")
    mask = str(tmp_path / "mask.tif")
    run("extractpvplants", {"INPUT": chip, "CANDIDATE_PRIORS": [probabilities], "CONTEXT": context,
                            "OUTPUT": plants, "OUTPUT_MASK": mask}, feedback)
    reference = gdal.Open(os.path.join(DATA, "austria_pv", "pv_mask_152.tif")).ReadAsArray().astype(bool)
    found = gdal.Open(mask).ReadAsArray().astype(bool)
    assert np.sum(found & reference) / np.sum(found | reference) > 0.6
    layer = QgsVectorLayer(plants, "plants", "ogr")
    rows = [{f.name(): feature[f.name()] for f in layer.fields()} for feature in layer.getFeatures()]
    assert rows and all(row["source"] == "candidate" for row in rows)
    assert {row["sources"] for row in rows} == {"pv_segmenter (probability)"}  # not the file's output name
    biggest = max(rows, key=lambda row: row["pixels"])
    assert biggest["context_class"] == 1 and biggest["context_name"] == "PV" and biggest["context_share"] > 0.7


def test_a_model_failing_mid_run_leaves_no_file(fusionpv, feedback, virginia_stack, tmp_path, monkeypatch):
    """A model error while the tiles run: a message naming MODEL, and neither output nor a hidden partial file of
    either (the probability writer is discarded too)."""
    def failing_run(*arguments, **options):
        raise runner.ModelError("the model failed on a tile.", "MODEL")
    monkeypatch.setattr(runner, "run_segmentation", failing_run)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(QgsProcessingException, match="MODEL: the model failed on a tile"):
        run("runmodel", {"INPUT": virginia_stack, "MODEL": MODEL, "OUTPUT": str(out / "classes.tif"),
                         "OUTPUT_PROBABILITIES": str(out / "probabilities.tif")}, feedback)
    assert os.listdir(str(out)) == []


def test_partial_files_of_a_killed_run_go_with_the_next_run(fusionpv, feedback, virginia_stack, tmp_path):
    """A run killed (SIGTERM) while writing leaves hidden partial files; the next run of the same outputs removes
    them, and leaves other files alone."""
    out = tmp_path / "out"
    out.mkdir()
    for name in (".classes.0badc0de.partial.tif", ".probabilities.12345678.partial.tif", "notes.partial.txt"):
        (out / name).write_bytes(b"left by a killed run")
    run("runmodel", {"INPUT": virginia_stack, "MODEL": MODEL, "OUTPUT": str(out / "classes.tif"),
                     "OUTPUT_PROBABILITIES": str(out / "probabilities.tif")}, feedback)
    left = sorted(name for name in os.listdir(str(out)) if not name.endswith(".aux.xml"))  # GDAL's side-cars
    assert left == ["classes.tif", "notes.partial.txt", "probabilities.tif"]
