"""The tiled ONNX model runner against an independent whole-image computation, on real Sentinel-2 data."""
import os

import numpy as np
import pytest

from fusion_pv_mapping.core import model_runner as runner
from fusion_pv_mapping.core.onnx_model import read_onnx
from fusion_pv_mapping.core.progress import Cancelled, Progress
import onnx_builder
from onnx_builder import model as build_model, node
from onnx_reference import evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED_MODEL = os.path.join(ROOT, "resources", "models", "pv_segmenter.onnx")
BACKENDS = [pytest.param(runner.BACKEND_OPENCV, id="opencv"),
            pytest.param(runner.BACKEND_ONNXRUNTIME, id="onnxruntime")]


@pytest.fixture(scope="module")
def virginia():
    """The real 64 × 64 L1C crop (DN, bands B02 B03 B04 B08 B11 B12), as float32 (6, rows, cols)."""
    return np.load(os.path.join(ROOT, "tests", "data", "virginia_crop.npz"))["bands"].astype(np.float32)


def backend_or_skip(choice, path):
    if not runner.backend_available(choice):
        pytest.skip("%s is not installed here" % runner.BACKEND_NAMES[choice])
    return runner.open_backend(path, choice)


def run_whole(path, values, valid, settings, backend, mode=runner.MODE_SEGMENTATION):
    """Run through the core runner; returns the class raster and the per-class output assembled in memory."""
    spec = runner.read_model_spec(path)
    rows, cols = values.shape[1:]
    if mode == runner.MODE_PATCHES:
        rows, cols = runner.patch_grid_shape((rows, cols), settings.patch_size)
    classes = np.full((rows, cols), 77, np.uint8)
    outputs = {}

    def read(r, c):
        return values[:, r, c], valid[r, c]

    def write(window, found, probabilities):
        window = (slice(window, window + 1), slice(None)) if mode == runner.MODE_PATCHES else window
        classes[window] = found
        outputs[(window[0].start, window[1].start)] = (window, probabilities)

    if mode == runner.MODE_PATCHES:
        summary = runner.run_patches(read, values.shape[1:], backend, settings, write, spec.batch is not None)
    else:
        summary = runner.run_segmentation(read, values.shape[1:], backend, settings, write, spec.fixed_size)
    assert summary.non_finite == 0
    probabilities = np.full((summary.class_count, rows, cols), -1.0, np.float32)
    for window, block in outputs.values():
        probabilities[(slice(None),) + window] = block
    return classes, probabilities


def test_shipped_model_describes_itself():
    spec = runner.read_model_spec(SHIPPED_MODEL)
    assert spec.channels == 6 and spec.fixed_size is None and spec.output_rank == 4
    assert spec.class_names == ["not PV", "PV"]
    assert spec.band_names == ["B02", "B03", "B04", "B08", "B11", "B12"]
    assert spec.tile_size == 256 and spec.resolution_m == 10.0
    settings = runner.run_settings(spec, 6)
    assert (settings.tile_size, settings.overlap) == (256, round(256 * spec.overlap_percent / 100))
    assert os.path.getsize(SHIPPED_MODEL) <= 2 * 1024 * 1024


@pytest.mark.parametrize("backend_choice", BACKENDS)
@pytest.mark.parametrize("tile_size", [16, 40])
def test_tiled_run_equals_whole_image_network(virginia, backend_choice, tile_size):
    """On the real scene, tiles of 16 and 40 px with a 4 px overlap give the whole-image result (receptive field
    5 × 5) within 1e-4, with either back-end."""
    backend = backend_or_skip(backend_choice, SHIPPED_MODEL)
    spec = runner.read_model_spec(SHIPPED_MODEL)
    settings = runner.run_settings(spec, 6, tile_size=tile_size, overlap=4)
    valid = np.ones(virginia.shape[1:], bool)
    classes, probabilities = run_whole(SHIPPED_MODEL, virginia, valid, settings, backend)
    expected = evaluate(read_onnx(SHIPPED_MODEL, with_weights=True),
                        runner.standardised(virginia, valid, settings))[0]
    assert np.abs(probabilities - expected).max() < 1e-4
    assert np.array_equal(classes, np.argmax(expected, axis=0))
    assert len(runner.segmentation_tiles(virginia.shape[1:], tile_size, 4)) > 1


def test_both_backends_agree_on_the_shipped_model(virginia):
    outputs = []
    for choice in (runner.BACKEND_OPENCV, runner.BACKEND_ONNXRUNTIME):
        backend = backend_or_skip(choice, SHIPPED_MODEL)
        settings = runner.run_settings(runner.read_model_spec(SHIPPED_MODEL), 6, tile_size=32, overlap=4)
        outputs.append(run_whole(SHIPPED_MODEL, virginia, np.ones(virginia.shape[1:], bool), settings, backend)[1])
    assert np.abs(outputs[0] - outputs[1]).max() < 1e-4


def test_auto_prefers_onnx_runtime(monkeypatch):
    monkeypatch.setattr(runner, "backend_available", lambda choice: True)
    opened = []
    monkeypatch.setitem(runner._BACKENDS, runner.BACKEND_ONNXRUNTIME,
                        ("onnxruntime", lambda path, output_name: opened.append((path, output_name))))
    runner.open_backend(SHIPPED_MODEL, runner.BACKEND_AUTO)
    assert opened == [(SHIPPED_MODEL, None)]


def test_nodata_stays_nodata_and_is_fed_as_zero(virginia):
    backend = backend_or_skip(runner.BACKEND_OPENCV, SHIPPED_MODEL)
    settings = runner.run_settings(runner.read_model_spec(SHIPPED_MODEL), 6, tile_size=24, overlap=4)
    valid = np.ones(virginia.shape[1:], bool)
    valid[10:20, 30:45] = False
    classes, probabilities = run_whole(SHIPPED_MODEL, virginia, valid, settings, backend)
    assert np.all(classes[~valid] == runner.CLASS_NODATA) and np.all(np.isnan(probabilities[:, ~valid]))
    expected = evaluate(read_onnx(SHIPPED_MODEL, with_weights=True), runner.standardised(virginia, valid, settings))[0]
    assert np.abs(probabilities[:, valid] - expected[:, valid]).max() < 1e-4
    assert not np.any(classes[valid] == runner.CLASS_NODATA)


@pytest.fixture()
def lcz_patch_model(tmp_path):
    """A 17-class patch classifier with a fixed 8 × 8 input: softmax(W · mean over the patch)."""
    weight = np.random.default_rng(3).normal(size=(17, 6, 1, 1)).astype(np.float32)
    nodes = [node("GlobalAveragePool", ["input"], ["pooled"]),
             node("Conv", ["pooled", "w"], ["logits"], kernel_shape=[1, 1]),
             node("Flatten", ["logits"], ["flat"], axis=1), node("Softmax", ["flat"], ["output"], axis=1)]
    path = tmp_path / "lcz.onnx"
    path.write_bytes(build_model(nodes, [1, 6, 8, 8], [1, 17], {"w": weight}, {"model_type": "Recognition"}))
    return str(path), weight[:, :, 0, 0]


@pytest.mark.parametrize("backend_choice", BACKENDS)
def test_patch_classification_one_class_per_patch(virginia, lcz_patch_model, backend_choice):
    path, weight = lcz_patch_model
    backend = backend_or_skip(backend_choice, path)
    spec = runner.read_model_spec(path)
    settings = runner.run_settings(spec, 6, mode=runner.MODE_PATCHES, patch_size=32, input_scale=10000)
    assert settings.patch_size == 8 and settings.notes  # the fixed input size wins over PATCH_SIZE
    values = virginia[:, :60, :61]  # partial patches at the bottom and right edges
    valid = np.ones(values.shape[1:], bool)
    valid[:8, :8] = False
    classes, probabilities = run_whole(path, values, valid, settings, backend, runner.MODE_PATCHES)
    assert classes.shape == (8, 8)
    assert classes[0, 0] == runner.CLASS_NODATA  # all nodata
    assert classes[7, 7] == runner.CLASS_NODATA  # 4 × 5 of 8 × 8 pixels inside the image: under half valid
    inputs = runner.standardised(values, valid, settings)
    for row, col in [(1, 1), (3, 5), (7, 6)]:  # (7, 6): half inside the image
        patch = np.zeros((6, 8, 8), np.float32)
        block = inputs[:, row * 8:row * 8 + 8, col * 8:col * 8 + 8]
        patch[:, :block.shape[1], :block.shape[2]] = block
        logits = weight @ patch.mean(axis=(1, 2))
        expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert np.abs(probabilities[:, row, col] - expected).max() < 1e-4
        assert classes[row, col] == np.argmax(expected)
    names = runner.class_names_for(spec, 17)
    assert runner.is_lcz(names) and runner.class_colours(names)[16] == "#6a6aff"


def test_errors_say_what_is_wrong(tmp_path, lcz_patch_model):
    spec = runner.read_model_spec(SHIPPED_MODEL)
    with pytest.raises(runner.ModelError, match="takes 6 channels but 4"):
        runner.run_settings(spec, 4)
    with pytest.raises(runner.ModelError, match="segmentation model"):
        runner.run_settings(spec, 6, mode=runner.MODE_PATCHES)
    with pytest.raises(runner.ModelError, match="patch classification"):
        runner.run_settings(runner.read_model_spec(lcz_patch_model[0]), 6)
    not_onnx = tmp_path / "chip.onnx"
    not_onnx.write_bytes(open(os.path.join(ROOT, "tests", "data", "austria_pv", "pv_mask_9.tif"), "rb").read())
    with pytest.raises(runner.ModelError, match="not an ONNX model"):
        runner.read_model_spec(str(not_onnx))
    with pytest.raises(runner.ModelError, match="overlap"):
        runner.run_settings(spec, 6, tile_size=8, overlap=4)


def test_output_that_is_not_one_value_per_pixel_is_refused(tmp_path, virginia):
    path = tmp_path / "pooled.onnx"
    path.write_bytes(build_model([node("MaxPool", ["input"], ["output"], kernel_shape=[2, 2], strides=[2, 2])],
                                 ["batch", 6, "rows", "cols"], ["batch", 6, "r", "c"]))
    backend = backend_or_skip(runner.BACKEND_OPENCV, str(path))
    settings = runner.run_settings(runner.read_model_spec(str(path)), 6, tile_size=32, overlap=4)
    with pytest.raises(runner.ModelError, match="one value per input pixel"):
        run_whole(str(path), virginia, np.ones(virginia.shape[1:], bool), settings, backend)


def test_fixed_size_segmentation_runs_at_that_size(tmp_path, virginia):
    weight = np.random.default_rng(5).normal(size=(3, 6, 3, 3)).astype(np.float32)
    path = tmp_path / "fixed.onnx"
    path.write_bytes(build_model([node("Conv", ["input", "w"], ["output"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                                 [1, 6, 24, 24], [1, 3, 24, 24], {"w": weight}))
    spec = runner.read_model_spec(str(path))
    settings = runner.run_settings(spec, 6, tile_size=100, overlap=2, input_scale=10000)
    assert settings.tile_size == 24 and settings.notes
    seen = []
    backend = backend_or_skip(runner.BACKEND_OPENCV, str(path))

    class Recording:
        def run(self, batch):
            seen.append(batch.shape)
            return backend.run(batch)

    valid = np.ones(virginia.shape[1:], bool)
    _, output = run_whole(str(path), virginia, valid, settings, Recording())
    assert set(seen) == {(1, 6, 24, 24)}
    model = read_onnx(str(path), with_weights=True)
    model.nodes[0].outputs = ["output"]
    expected = evaluate(model, runner.standardised(virginia, valid, settings))[0]
    assert np.abs(output - expected).max() < 1e-3


def test_cancel_stops_between_tiles(virginia):
    backend = backend_or_skip(runner.BACKEND_OPENCV, SHIPPED_MODEL)
    settings = runner.run_settings(runner.read_model_spec(SHIPPED_MODEL), 6, tile_size=24, overlap=4)
    written = []
    progress = Progress(is_cancelled=lambda: len(written) >= 2)
    with pytest.raises(Cancelled):
        runner.run_segmentation(lambda r, c: (virginia[:, r, c], np.ones(virginia.shape[1:], bool)[r, c]),
                                virginia.shape[1:], backend, settings, lambda *args: written.append(args[0]),
                                progress=progress)
    assert len(written) == 2 < len(runner.segmentation_tiles(virginia.shape[1:], 24, 4))


def two_output_model(path, metadata=None):
    """:func:`onnx_builder.two_output_model` written at ``path``; returns the path."""
    path.write_bytes(onnx_builder.two_output_model(metadata))
    return str(path)


def test_a_model_with_several_outputs_is_read_from_its_class_output_or_refused(tmp_path, virginia):
    """Never the first output by default: with class_names the output of that many channels is read, by name,
    and every back-end reads the same one; without them the model is refused."""
    with pytest.raises(runner.ModelError, match="2 outputs .*features.*classes.*no class_names"):
        runner.read_model_spec(two_output_model(tmp_path / "bare.onnx"))
    path = two_output_model(tmp_path / "named.onnx", {"class_names": ["water", "soil", "PV"]})
    spec = runner.read_model_spec(path)
    assert (spec.output_name, spec.output_classes) == ("classes", 3)
    batch = virginia[None, :, :16, :16] / 10000
    outputs = [runner.open_backend(path, choice, spec.output_name).run(batch) if runner.backend_available(choice)
               else None for choice in (runner.BACKEND_OPENCV, runner.BACKEND_ONNXRUNTIME)]
    for output in outputs:
        if output is not None:
            assert output.shape == (1, 3, 16, 16) and np.allclose(output.sum(axis=1), 1, atol=1e-5)
    if all(output is not None for output in outputs):
        assert np.allclose(outputs[0], outputs[1], atol=1e-5)


def test_opencv_messages_are_whole_sentences():
    class Error(Exception):
        pass
    raw = ("OpenCV(4.6.0) /build/opencv/modules/dnn/src/onnx/onnx_importer.cpp:1040: error: (-2:Unspecified "
           "error) in function 'handleNode'\n> Node [Conv@ai.onnx]:(onnx_node!x) parse error: weights missing >")
    message = runner.opencv_message(Error(raw))
    assert message.endswith("weights missing") and not message.endswith(">")


def test_a_model_that_names_its_bands_gets_them_by_name_or_is_refused():
    """The shipped segmenter reads B02 B03 B04 B08 B11 B12: by description, by the 11-band Earth Engine layout of a
    raster without descriptions, and never the first six bands of a raster it cannot read the names of."""
    spec = runner.read_model_spec(SHIPPED_MODEL)
    described = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    assert runner.default_band_numbers(described, spec) == [2, 3, 4, 8, 10, 11]
    assert runner.default_band_numbers([""] * 11, spec) == [2, 3, 4, 8, 10, 11]
    for descriptions in ([""] * 7, ["red", "green", "blue", "nir", "a", "b", "c"]):
        with pytest.raises(runner.ModelError, match="B02 B03 B04 B08 B11 B12") as raised:
            runner.default_band_numbers(descriptions, spec)
        assert raised.value.parameter == "BANDS"
    unnamed = runner.ModelSpec(**dict(vars(spec), band_names=None))
    assert runner.default_band_numbers([""] * 7, unnamed) == [1, 2, 3, 4, 5, 6]


def test_a_model_answering_nan_gives_nodata_and_is_counted(tmp_path, virginia):
    """log(−x) of positive reflectance is NaN: no class 0 for it, nodata, and the run says how many pixels."""
    path = tmp_path / "nan.onnx"
    path.write_bytes(onnx_builder.nan_model({"tiles_size": 32}))
    spec = runner.read_model_spec(str(path))
    for choice in (runner.BACKEND_OPENCV, runner.BACKEND_ONNXRUNTIME):
        if not runner.backend_available(choice):
            continue
        backend = runner.open_backend(str(path), choice)
        settings = runner.run_settings(spec, 6, tile_size=32, overlap=4, input_scale=10000)
        values, valid = virginia[:, :40, :40], np.ones((40, 40), bool)
        valid[:5] = False
        written = np.zeros((40, 40), np.uint8)
        summary = runner.run_segmentation(lambda r, c: (values[:, r, c], valid[r, c]), (40, 40), backend, settings,
                                          lambda window, classes, _: written.__setitem__(window, classes))
        assert summary.non_finite == np.count_nonzero(valid), choice
        assert np.all(written == runner.CLASS_NODATA)


def test_the_default_overlap_follows_a_fixed_input_size(tmp_path):
    """A model that takes 32 × 32 tiles only runs with a default overlap that fits 32 px, not one made for the
    default tile; an overlap the user sets too large is still refused, naming OVERLAP."""
    path = tmp_path / "fixed.onnx"
    path.write_bytes(build_model([node("Conv", ["input", "w"], ["output"], kernel_shape=[1, 1])], [1, 6, 32, 32],
                                 [1, 2, 32, 32], {"w": np.ones((2, 6, 1, 1))}))
    settings = runner.run_settings(runner.read_model_spec(str(path)), 6)
    assert settings.tile_size == 32 and 0 < settings.overlap <= 32 // 4
    with pytest.raises(runner.ModelError) as raised:
        runner.run_settings(runner.read_model_spec(str(path)), 6, overlap=16)
    assert raised.value.parameter == "OVERLAP"
