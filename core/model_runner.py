"""Run an ONNX model over a raster, tile by tile: per-pixel segmentation or one class per patch.

The model brings its settings as Deepness-compatible metadata (JSON values of ``metadata_props``): ``model_type``,
``class_names`` ({id: name}), ``resolution`` (cm per pixel), ``tiles_size`` (pixels), ``tiles_overlap`` (percent
of the tile), ``standardization_mean`` and ``standardization_std`` (per channel, applied after dividing the input
by the input scale); this plugin also reads ``band_names`` (the input bands in channel order).

Segmentation reads each tile with an ``overlap`` margin and keeps only its centre, so wherever the model's
receptive field reaches at most ``overlap`` pixels, the result equals one run on the whole image and does not
depend on the tile size. Nodata input (any channel nodata or not finite) is fed as 0 after standardisation and
stays nodata in the output. Two back-ends run the network, both imported only when used: OpenCV's DNN module and
ONNX Runtime.
"""
import json
import re
from dataclasses import dataclass

import numpy as np

from .bands import GEE_LAYOUTS
from .onnx_model import NotAnOnnxModel, read_onnx
from .progress import NO_PROGRESS

MODE_SEGMENTATION, MODE_PATCHES = 0, 1
BACKEND_AUTO, BACKEND_OPENCV, BACKEND_ONNXRUNTIME = 0, 1, 2
BACKEND_NAMES = {BACKEND_AUTO: "Auto", BACKEND_OPENCV: "OpenCV DNN", BACKEND_ONNXRUNTIME: "ONNX Runtime"}
#: Tile side (pixels) when neither the user nor the model gives one.
DEFAULT_TILE_SIZE = 256
#: Overlap (pixels) when neither the user nor the model gives one.
DEFAULT_OVERLAP = 16
DEFAULT_PATCH_SIZE = 32
#: Class value of nodata pixels in the class raster.
CLASS_NODATA = 255
#: Most classes a class raster holds (values 0…254; 255 is nodata).
MAX_CLASSES = 255
#: A patch with fewer valid pixels than this share is nodata.
MIN_VALID_PATCH_SHARE = 0.5
#: Patches run at once by a model whose batch size is not fixed.
PATCH_BATCH = 64
#: Standard colours of the 17 Local Climate Zones (LCZ 1–10, A–G), WUDAPT / Stewart & Oke 2012 legend.
LCZ_CLASSES = (
    ("LCZ 1 compact high-rise", "#8c0000"), ("LCZ 2 compact mid-rise", "#d10000"),
    ("LCZ 3 compact low-rise", "#ff0000"), ("LCZ 4 open high-rise", "#bf4d00"),
    ("LCZ 5 open mid-rise", "#ff6600"), ("LCZ 6 open low-rise", "#ff9955"),
    ("LCZ 7 lightweight low-rise", "#faee05"), ("LCZ 8 large low-rise", "#bcbcbc"),
    ("LCZ 9 sparsely built", "#ffccaa"), ("LCZ 10 heavy industry", "#555555"),
    ("LCZ A dense trees", "#006a00"), ("LCZ B scattered trees", "#00aa00"), ("LCZ C bush, scrub", "#648525"),
    ("LCZ D low plants", "#b9db79"), ("LCZ E bare rock or paved", "#000000"),
    ("LCZ F bare soil or sand", "#fbf7ae"), ("LCZ G water", "#6a6aff"))


class ModelError(ValueError):
    """The model cannot be run as asked (the message says why and what to change); ``parameter`` names the
    algorithm parameter to change."""

    def __init__(self, message, parameter="MODEL"):
        super().__init__(message)
        self.parameter = parameter


@dataclass
class ModelSpec:
    """A model's inputs, outputs and settings. ``channels``, ``fixed_size`` (rows, cols) and ``batch`` are None
    where the model leaves them open; settings are None where its metadata is silent."""
    path: str
    channels: object
    fixed_size: object
    batch: object
    output_rank: object
    output_classes: object
    model_type: str
    class_names: object
    tile_size: object
    overlap_percent: object
    mean: object
    std: object
    band_names: object
    resolution_m: object
    description: str
    output_name: str = None


def _metadata_value(metadata, key):
    """A metadata value decoded from JSON (the raw text when it is not JSON); None when absent."""
    if key not in metadata:
        return None
    try:
        return json.loads(metadata[key])
    except ValueError:
        return metadata[key]


def _class_names(value):
    """Class names in class order from a {id: name} dict or a list; None when not given or unreadable."""
    if isinstance(value, dict):
        try:
            by_id = {int(key): str(name) for key, name in value.items()}
        except ValueError:
            return None
        return [by_id.get(number, "class %d" % number) for number in range(max(by_id) + 1)] if by_id else None
    if isinstance(value, list):
        return [str(name) for name in value]
    return None


def _numbers(value):
    """A list of floats, a single float as a one-element list, or None."""
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return [float(v) for v in value]
    return None


def _positive_int(value):
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def read_model_spec(path):
    """The :class:`ModelSpec` of the ONNX file at ``path``; raises :class:`ModelError` when it is not a model
    with one image input of shape (batch, channels, rows, cols)."""
    try:
        model = read_onnx(path)
    except OSError as error:
        raise ModelError("cannot read %s: %s" % (path, error.strerror or error)) from error
    except NotAnOnnxModel as error:
        raise ModelError("%s is not an ONNX model (%s)." % (path, error)) from error
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ModelError("the model must have one input of shape (batch, channels, rows, cols); it has %s." % ", ".join(
            "%s %s" % (tensor.name, _shape_text(tensor.shape)) for tensor in model.inputs))
    batch, channels, rows, cols = model.inputs[0].shape
    meta = {key: _metadata_value(model.metadata, key) for key in (
        "model_type", "class_names", "resolution", "tiles_size", "tiles_overlap", "standardization_mean",
        "standardization_std", "band_names")}
    output = chosen_output(model.outputs, _class_names(meta["class_names"]))
    output_shape = output.shape
    is_number = lambda value: isinstance(value, (int, float))  # noqa: E731
    return ModelSpec(
        path, channels, (rows, cols) if rows and cols else None, batch,
        output_rank=len(output_shape) or None, output_classes=output_shape[1] if len(output_shape) >= 2 else None,
        model_type=str(meta["model_type"] or ""), class_names=_class_names(meta["class_names"]),
        tile_size=_positive_int(meta["tiles_size"]),
        overlap_percent=meta["tiles_overlap"] if is_number(meta["tiles_overlap"]) else None,
        mean=_numbers(meta["standardization_mean"]), std=_numbers(meta["standardization_std"]),
        band_names=[str(name) for name in meta["band_names"]] if isinstance(meta["band_names"], list) else None,
        resolution_m=meta["resolution"] / 100.0 if is_number(meta["resolution"]) and meta["resolution"] > 0 else None,
        description=model.description, output_name=output.name)


def chosen_output(outputs, class_names):
    """The graph output the plugin reads: the only one, or of several the one whose channels (shape[1]) match the
    model's ``class_names``. Anything else is refused (:class:`ModelError`): every back-end must read the same
    output, and a guess could read features as class scores."""
    if len(outputs) == 1:
        return outputs[0]
    matching = [tensor for tensor in outputs if class_names and len(tensor.shape) >= 2
                and tensor.shape[1] == len(class_names)]
    if len(matching) == 1:
        return matching[0]
    raise ModelError("the model has %d outputs (%s) and %s; the plugin reads one output of class scores: give the "
                     "model class_names metadata whose count matches exactly one output's channels, or export it "
                     "with that output only." % (len(outputs), ", ".join(
                         "%s %s" % (tensor.name, _shape_text(tensor.shape)) for tensor in outputs),
                         "%d class names match %d of them" % (len(class_names), len(matching)) if class_names
                         else "no class_names metadata"))


def _shape_text(shape):
    return "(%s)" % ", ".join("?" if size is None else str(size) for size in shape)


# --- back-ends ----------------------------------------------------------------------------------------------------

class OpenCvBackend:
    """OpenCV's DNN module (``cv2.dnn``), part of the QGIS installations this plugin targets."""
    name = BACKEND_NAMES[BACKEND_OPENCV]

    def __init__(self, path, output_name=None):
        import cv2
        try:
            self.net = cv2.dnn.readNetFromONNX(path)
        except cv2.error as error:
            raise ModelError("OpenCV DNN cannot load %s: %s" % (path, opencv_message(error))) from error
        self.error = cv2.error
        self.output_name = output_name

    def run(self, batch):
        """Model output (the output ``output_name``, else the only one) for a float32 batch (N, C, rows, cols)."""
        try:
            self.net.setInput(np.ascontiguousarray(batch, np.float32))
            output = self.net.forward(self.output_name) if self.output_name else self.net.forward()
            return np.asarray(output, np.float32)
        except self.error as error:
            raise ModelError("OpenCV DNN failed to run the model on input %s: %s" % (
                _shape_text(batch.shape), opencv_message(error))) from error


class OnnxRuntimeBackend:
    """ONNX Runtime (``onnxruntime``) on the CPU."""
    name = BACKEND_NAMES[BACKEND_ONNXRUNTIME]

    def __init__(self, path, output_name=None):
        import onnxruntime
        try:
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception classes
            raise ModelError("ONNX Runtime cannot load %s: %s" % (path, error)) from error
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output_name] if output_name else None

    def run(self, batch):
        """Model output (the output ``output_name``, else the first) for a float32 batch (N, C, rows, cols)."""
        try:
            return np.asarray(self.session.run(self.output_names, {
                self.input_name: np.ascontiguousarray(batch, np.float32)})[0], np.float32)
        except Exception as error:  # onnxruntime raises its own exception classes
            raise ModelError("ONNX Runtime failed to run the model on input %s: %s" % (
                _shape_text(batch.shape), error)) from error


_BACKENDS = {BACKEND_OPENCV: ("cv2", OpenCvBackend), BACKEND_ONNXRUNTIME: ("onnxruntime", OnnxRuntimeBackend)}


def backend_available(choice):
    """Can the back-end ``choice`` be imported here?"""
    name = _BACKENDS[choice][0]
    try:
        module = __import__(name)
    except ImportError:
        return False
    return name != "cv2" or hasattr(module, "dnn")


def opencv_message(error):
    """The message of an OpenCV error: its last line, less OpenCV's "in function '…'" frame and its closing ">"."""
    text = str(error).strip().splitlines()[-1].strip()
    text = re.sub(r"^.*?error: \(-?\d+:[^)]*\)\s*", "", text)
    text = re.sub(r"\s*in function '[^']*'\s*$", "", text)
    return text.strip().rstrip(">").strip() or str(error).strip()


def open_backend(path, choice=BACKEND_AUTO, output_name=None):
    """A back-end running the model at ``path`` and reading its output ``output_name`` (None: the only one):
    ``choice`` Auto takes ONNX Runtime when installed, else OpenCV."""
    if choice == BACKEND_AUTO:
        order = [BACKEND_ONNXRUNTIME, BACKEND_OPENCV]
        choice = next((option for option in order if backend_available(option)), None)
        if choice is None:
            raise ModelError("neither ONNX Runtime nor OpenCV's DNN module can be imported; install one "
                             "(pip install onnxruntime, or python3-opencv).", "BACKEND")
    elif not backend_available(choice):
        raise ModelError("%s is not installed (%s); choose another back-end or install it." % (
            BACKEND_NAMES[choice], "pip install onnxruntime" if choice == BACKEND_ONNXRUNTIME else "python3-opencv"),
            "BACKEND")
    return _BACKENDS[choice][1](path, output_name)


# --- settings -----------------------------------------------------------------------------------------------------

@dataclass
class RunSettings:
    """How a model is run: tile and overlap (pixels), patch size, input scale, standardisation per channel, and the
    class names (None until the first output shows the class count)."""
    mode: int
    tile_size: int
    overlap: int
    patch_size: int
    input_scale: float
    mean: np.ndarray
    std: np.ndarray
    notes: list


def run_settings(spec, channel_count, mode=MODE_SEGMENTATION, tile_size=0, overlap=-1, patch_size=0,
                 input_scale=1.0):
    """Settings for running ``spec`` on ``channel_count`` bands; 0 (or −1 for ``overlap``) takes the model's
    value, else the default. A model with a fixed input size is run at that size (noted in ``notes``). Raises
    :class:`ModelError` on a channel mismatch or a mode the model's output cannot serve."""
    notes = []
    if spec.channels is not None and spec.channels != channel_count:
        raise ModelError("the model takes %d channels but %d band(s) were chosen; choose %d bands in the model's "
                         "channel order%s." % (spec.channels, channel_count, spec.channels,
                                               " (%s)" % ", ".join(spec.band_names) if spec.band_names else ""),
                         "BANDS")
    if spec.output_rank == 2 and mode == MODE_SEGMENTATION:
        raise ModelError("the model gives one class per input (output rank 2): run it as patch classification.",
                         "MODE")
    if spec.output_rank == 4 and mode == MODE_PATCHES and spec.model_type.lower() == "segmentor":
        raise ModelError("the model is a segmentation model (output rank 4): run it as segmentation.", "MODE")
    if not input_scale or not np.isfinite(input_scale) or input_scale <= 0:
        raise ModelError("the input scale must be a positive number (values are divided by it).", "INPUT_SCALE")
    tile_size = tile_size or spec.tile_size or DEFAULT_TILE_SIZE
    patch_size = patch_size or DEFAULT_PATCH_SIZE
    if spec.fixed_size is not None:
        fixed = spec.fixed_size
        if mode == MODE_PATCHES and (patch_size, patch_size) != tuple(fixed):
            notes.append("the model takes %d × %d inputs only: patches of that size are used." % fixed)
            patch_size = fixed[0]
        if mode == MODE_SEGMENTATION and tile_size != max(fixed):
            notes.append("the model takes %d × %d inputs only: tiles of that size are used." % fixed)
        tile_size = max(fixed)
    if overlap < 0:  # the default follows the tile size actually used
        overlap = (int(round(tile_size * spec.overlap_percent / 100.0)) if spec.overlap_percent is not None
                   else min(DEFAULT_OVERLAP, tile_size // 4))
    if mode == MODE_SEGMENTATION and tile_size - 2 * overlap < 1:
        raise ModelError("the overlap (%d px on each side) leaves nothing of a %d px tile; lower OVERLAP or raise "
                         "TILE_SIZE." % (overlap, tile_size), "OVERLAP")
    mean = _per_channel(spec.mean, channel_count, 0.0, "standardization_mean")
    std = _per_channel(spec.std, channel_count, 1.0, "standardization_std")
    if np.any(std <= 0):
        raise ModelError("the model's standardization_std has a value ≤ 0.")
    return RunSettings(mode, tile_size, overlap, patch_size, float(input_scale), mean, std, notes)


def _per_channel(values, channels, default, key):
    """Per-channel float32 values from the metadata (one value repeated, or one per channel)."""
    if values is None:
        return np.full(channels, default, np.float32)
    if len(values) == 1:
        return np.full(channels, values[0], np.float32)
    if len(values) != channels:
        raise ModelError("the model's %s has %d values for %d channels." % (key, len(values), channels))
    return np.asarray(values, np.float32)


def default_band_numbers(descriptions, spec, normalise=str.upper):
    """1-based band numbers for the model's channels. A model that names its bands (``band_names``) gets them by
    name: from the band ``descriptions`` (compared after ``normalise``), or, for a raster without descriptions,
    from the usual Earth Engine band layout of its band count; when neither finds them it is refused
    (:class:`ModelError` naming BANDS), never fed other bands. A model that names none gets the first bands. None
    when the raster has too few bands."""
    wanted = spec.channels or (len(spec.band_names) if spec.band_names else len(descriptions))
    if not (spec.band_names and len(spec.band_names) == wanted):
        return list(range(1, wanted + 1)) if wanted <= len(descriptions) else None
    named = descriptions if any(d and d.strip() for d in descriptions) else GEE_LAYOUTS.get(len(descriptions), ())
    found = {normalise(d): number for number, d in enumerate(named, start=1) if d}
    numbers = [found.get(normalise(name)) for name in spec.band_names]
    if all(numbers):
        return numbers
    raise ModelError("the model reads bands %s, which %s; choose them in BANDS, in the model's order." % (
        " ".join(spec.band_names), "are not all among the raster's band descriptions (%s)" % ", ".join(
            d or "-" for d in descriptions) if named is descriptions else
        "the raster's %d bands do not name (they have no descriptions), and no usual export layout has %d bands" % (
            len(descriptions), len(descriptions))), "BANDS")


def probe_class_count(spec, backend, settings, channels):
    """Number of classes the model gives: from its output shape, else from one run on a blank input."""
    if isinstance(spec.output_classes, int) and spec.output_classes > 0:
        return spec.output_classes
    side = settings.patch_size if settings.mode == MODE_PATCHES else min(settings.tile_size, 64)
    shape = (1, channels) + (tuple(spec.fixed_size) if spec.fixed_size else (side, side))
    return _checked_output(backend.run(np.zeros(shape, np.float32)), shape, settings.mode).shape[1]


def class_names_for(spec, class_count):
    """Names of ``class_count`` classes: the model's, completed with 'class N'; the LCZ names for an unnamed
    17-class model."""
    names = list(spec.class_names or [])
    if not names and class_count == len(LCZ_CLASSES):
        names = [name for name, _ in LCZ_CLASSES]
    return (names + ["class %d" % number for number in range(len(names), class_count)])[:class_count]


def is_lcz(names):
    """Do the class names (or their count, when unnamed) say Local Climate Zones?"""
    return len(names) == len(LCZ_CLASSES) and (
        all(name.upper().startswith("LCZ") for name in names)
        or all(name.startswith("class ") for name in names))


def is_background_class(number, name):
    """Is class ``number`` named ``name`` the background ("not PV", "background", "other"…)? Only class 0 can be."""
    return number == 0 and any(word in name.lower() for word in ("background", "not", "other", "none"))


def class_colours(names):
    """A '#rrggbb' colour per class: the standard LCZ palette for LCZ classes, else well-spread hues (the first
    class grey when it is a background class)."""
    if is_lcz(names):
        return [colour for _, colour in LCZ_CLASSES]
    colours = []
    for number, name in enumerate(names):
        if is_background_class(number, name):
            colours.append("#b4b4b4")
            continue
        hue = (number * 0.618033988749895 + 0.05) % 1.0
        colours.append(_hsv_hex(hue, 0.75, 0.9))
    return colours


def _hsv_hex(hue, saturation, value):
    sector = int(hue * 6) % 6
    fraction = hue * 6 - int(hue * 6)
    p, q, t = value * (1 - saturation), value * (1 - fraction * saturation), value * (1 - (1 - fraction) * saturation)
    sectors = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q)]
    red, green, blue = sectors[sector]
    return "#%02x%02x%02x" % (round(red * 255), round(green * 255), round(blue * 255))


# --- tiling and running -------------------------------------------------------------------------------------------

def standardised(values, valid, settings):
    """Model input from raw band values (C, rows, cols): divided by the input scale, standardised per channel, 0
    where ``valid`` is False."""
    scaled = (values.astype(np.float32) / np.float32(settings.input_scale) - settings.mean[:, None, None]) \
        / settings.std[:, None, None]
    return np.where(valid[None], scaled, np.float32(0)).astype(np.float32)


def segmentation_tiles(shape, tile_size, overlap, fixed=False):
    """[(read window, write window), …] covering an image of ``shape``: write windows of side ``tile_size − 2 ×
    overlap`` partition the image; each is read with ``overlap`` pixels around it (less at the image edge, where
    the model's own padding applies). With ``fixed``, read windows are exactly ``tile_size`` (moved inside the
    image, or the whole image when it is smaller)."""
    step = tile_size - 2 * overlap
    tiles = []
    for top in range(0, shape[0], step):
        for left in range(0, shape[1], step):
            write = (slice(top, min(top + step, shape[0])), slice(left, min(left + step, shape[1])))
            read = tuple(_read_span(span, overlap, size, tile_size if fixed else None)
                         for span, size in zip(write, shape))
            tiles.append((read, write))
    return tiles


def _read_span(span, overlap, size, fixed):
    start, stop = max(span.start - overlap, 0), min(span.stop + overlap, size)
    if fixed is not None and size >= fixed:
        start = min(start, size - fixed)
        stop = start + fixed
    return slice(start, stop)


def _pad_to(batch, size):
    """Zero-pad a (N, C, rows, cols) batch at the bottom and right to ``size`` (rows, cols)."""
    rows, cols = batch.shape[2:]
    return np.pad(batch, ((0, 0), (0, 0), (0, max(size[0] - rows, 0)), (0, max(size[1] - cols, 0))))


def _checked_output(output, batch_shape, mode):
    """The output as (N, C, rows, cols) for segmentation or (N, C) for patches, or :class:`ModelError`."""
    if mode == MODE_PATCHES and output.ndim == 4 and output.shape[2:] == (1, 1):
        output = output[:, :, 0, 0]
    expected = "(1, C, rows, cols)" if mode == MODE_SEGMENTATION else "(1, C)"
    if output.ndim != (4 if mode == MODE_SEGMENTATION else 2) or output.shape[0] != batch_shape[0]:
        raise ModelError("the model's output has shape %s; %s expects %s." % (
            _shape_text(output.shape), "segmentation" if mode == MODE_SEGMENTATION else "patch classification",
            expected))
    if mode == MODE_SEGMENTATION and output.shape[2:] != batch_shape[2:]:
        raise ModelError("the model's output is %d × %d for a %d × %d input; segmentation needs one value per "
                         "input pixel." % (output.shape[2], output.shape[3], batch_shape[2], batch_shape[3]))
    if output.shape[1] > MAX_CLASSES:
        raise ModelError("the model gives %d classes; at most %d fit a class raster." % (output.shape[1], MAX_CLASSES))
    return output


@dataclass
class RunSummary:
    """What a run gave: the number of classes, and how many valid input pixels (or patches) the model answered
    with NaN or infinity (written as nodata: never a class)."""
    class_count: int = None
    non_finite: int = 0


def _classes(probabilities, valid, summary):
    """Class raster (uint8, :data:`CLASS_NODATA` where not valid) and probabilities (NaN where not valid) of one
    piece; a pixel the model gave a non-finite value for is nodata too, and counted in ``summary``."""
    answered = np.isfinite(probabilities).all(axis=0)
    summary.non_finite += int(np.count_nonzero(valid & ~answered))
    summary.class_count = probabilities.shape[0]
    valid = valid & answered
    classes = np.argmax(np.where(valid[None], probabilities, 0), axis=0).astype(np.uint8)
    classes[~valid] = CLASS_NODATA
    return classes, np.where(valid[None], probabilities, np.float32(np.nan)).astype(np.float32)


def run_segmentation(read, shape, backend, settings, write, fixed_size=None, progress=NO_PROGRESS):
    """Segment an image of ``shape`` (rows, cols) tile by tile.

    ``read(rows, cols)`` gives (values (C, rows, cols), valid (rows, cols)) of a window; ``write(window, classes,
    probabilities)`` receives each written window's class raster (uint8, :data:`CLASS_NODATA` = nodata) and
    per-class output (float32, NaN = nodata). Returns a :class:`RunSummary`."""
    tiles = segmentation_tiles(shape, settings.tile_size, settings.overlap, fixed_size is not None)
    summary = RunSummary()
    for number, (read_window, write_window) in enumerate(tiles):
        progress.step(100.0 * number / len(tiles))
        values, valid = read(*read_window)
        batch = standardised(values, valid, settings)[None]
        if fixed_size is not None:
            batch = _pad_to(batch, fixed_size)
        output = _checked_output(backend.run(batch), batch.shape, MODE_SEGMENTATION)
        inner = tuple(slice(w.start - r.start, w.stop - r.start) for w, r in zip(write_window, read_window))
        write(write_window, *_classes(output[0][(slice(None),) + inner], valid[inner], summary))
    progress.step(100)
    return summary


def patch_grid_shape(shape, patch_size):
    """(rows, cols) of the patch grid over an image of ``shape``: partial patches at the edge count."""
    return -(-shape[0] // patch_size), -(-shape[1] // patch_size)


def run_patches(read, shape, backend, settings, write, batch_fixed=False, progress=NO_PROGRESS):
    """Classify an image of ``shape`` patch by patch (side ``settings.patch_size``), one row of patches at a time.

    ``read`` as in :func:`run_segmentation`; ``write(row, classes, probabilities)`` receives one row of the patch
    grid: classes (1, cols) uint8 and per-class output (C, 1, cols). A patch with less than
    :data:`MIN_VALID_PATCH_SHARE` valid pixels (pixels beyond the image edge count as not valid) is nodata.
    Returns a :class:`RunSummary`."""
    size = settings.patch_size
    grid = patch_grid_shape(shape, size)
    summary = RunSummary()
    for row in range(grid[0]):
        progress.step(100.0 * row / grid[0])
        rows = slice(row * size, min((row + 1) * size, shape[0]))
        values, valid = read(rows, slice(0, shape[1]))
        values = np.pad(values, ((0, 0), (0, size - values.shape[1]), (0, grid[1] * size - shape[1])))
        valid = np.pad(valid, ((0, size - valid.shape[0]), (0, grid[1] * size - shape[1])))
        inputs = standardised(values, valid, settings)
        batch = inputs.reshape(inputs.shape[0], size, grid[1], size).transpose(2, 0, 1, 3)
        share = valid.reshape(size, grid[1], size).mean(axis=(0, 2))
        step = 1 if batch_fixed else PATCH_BATCH
        output = np.concatenate([_checked_output(backend.run(batch[start:start + step]),
                                                  batch[start:start + step].shape, MODE_PATCHES)
                                 for start in range(0, grid[1], step)])
        classes, probabilities = _classes(output.T[:, None, :], (share >= MIN_VALID_PATCH_SHARE)[None], summary)
        write(row, classes, probabilities)
    progress.step(100)
    return summary
