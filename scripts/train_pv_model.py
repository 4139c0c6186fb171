"""Train the small PV segmenter shipped in ``resources/models/`` and export it to ONNX (development only).

    python scripts/train_pv_model.py ../shared/data resources/models/pv_segmenter.onnx

Needs GDAL and numpy, and the ``onnx`` package for the export (``pip install onnx`` in a development venv; running
the model needs only numpy with OpenCV or ONNX Runtime).

Data (real, see ``../shared/data/MANIFEST.md``):
- the Austrian Sentinel-2 L2A chips with their OSM outlines as labels: the clear-sky median, the best date and up
  to :data:`DATES_PER_CHIP` clear dates of the 2022 series of every chip;
- the western half of the real L1C scene over the Eastern Shore of Virginia (no PV) as extra background; its
  eastern half is held out.
The chips are split by plant: every :data:`HOLD_OUT_EVERY`-th chip (by id) is never trained on. The known hard
cases (floating PV built in 2023, plants unbuilt in 2022) are left out, since their 2022 labels are wrong.

Network: 3 × 3 convolution (6 → 16) + ReLU, 3 × 3 convolution (16 → 16) + ReLU, 1 × 1 convolution (16 → 2),
softmax over the classes (not PV, PV). Receptive field 5 × 5 pixels. Loss: cross-entropy with both classes
weighted equally; Adam. Input: the six NDPI bands as DN (reflectance × 10000), standardised with the training
mean and standard deviation, which the model's metadata carries.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
from osgeo import gdal

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
CLASS_NAMES = {0: "not PV", 1: "PV"}
HIDDEN = 16
HARD_CASES = {"1913", "1933", "2004", "2011"}
HOLD_OUT_EVERY = 4
DATES_PER_CHIP = 6
CLEAR_SCL = (4, 5, 6)
EPOCHS = 120
LEARNING_RATE = 0.01
SEED = 7
TILE_SIZE = 256
TILE_OVERLAP_PERCENT = 5
gdal.UseExceptions()


def read_stack(path):
    """(rows, cols, 6) float DN of :data:`BANDS` (found by band description) and the valid mask."""
    dataset = gdal.Open(path)
    by_name = {dataset.GetRasterBand(b).GetDescription(): b for b in range(1, dataset.RasterCount + 1)}
    layers, valid = [], np.ones((dataset.RasterYSize, dataset.RasterXSize), bool)
    for name in BANDS:
        band = dataset.GetRasterBand(by_name[name])
        values = band.ReadAsArray().astype(np.float32)
        if band.GetNoDataValue() is not None:
            valid &= values != band.GetNoDataValue()
        layers.append(values)
    return np.stack(layers, axis=-1), valid


def read_series_dates(path, count):
    """Up to ``count`` clear dates (≥ 95 % of pixels SCL 4/5/6) of a netCDF chip series: [(image, valid), …]."""
    scl = gdal.Open('NETCDF:"%s":SCL' % path).ReadAsArray()
    clear = np.isin(scl, CLEAR_SCL)
    dates = [d for d in range(scl.shape[0]) if clear[d].mean() >= 0.95]
    chosen = [dates[i] for i in np.linspace(0, len(dates) - 1, min(count, len(dates))).astype(int)] if dates else []
    bands = {name: gdal.Open('NETCDF:"%s":%s' % (path, name)).ReadAsArray() for name in BANDS}
    return [(np.stack([bands[name][d] for name in BANDS], axis=-1).astype(np.float32),
             clear[d] & (bands["B02"][d] < 32767)) for d in chosen]


def virginia(folder):
    """The Virginia L1C scene (rows, cols, 6) at 10 m (20 m bands repeated), DN."""
    layers = []
    for name in BANDS:
        values = gdal.Open(os.path.join(folder, "s2_%s.tif" % name)).ReadAsArray().astype(np.float32)
        if name in ("B11", "B12"):
            values = np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)
        layers.append(values)
    rows = min(layer.shape[0] for layer in layers)
    cols = min(layer.shape[1] for layer in layers)
    return np.stack([layer[:rows, :cols] for layer in layers], axis=-1)


def load_samples(data):
    """Training images, held-out chip images and held-out background images, each as (image DN, label 0/1, valid
    mask), and the chip ids of each split."""
    austria = os.path.join(data, "austria_pv")
    with open(os.path.join(austria, "chips_index.csv")) as table:
        ids = sorted((row["id"] for row in csv.DictReader(table)), key=int)
    usable = [chip for chip in ids if chip not in HARD_CASES]
    held_out = usable[HOLD_OUT_EVERY - 1::HOLD_OUT_EVERY]
    train, test, background_test = [], [], []
    for chip in usable:
        label = gdal.Open(os.path.join(austria, "geotiff", "pv_mask_%s.tif" % chip)).ReadAsArray().astype(np.int64)
        images = [read_stack(os.path.join(austria, "geotiff", "S2L2A_%s_%s.tif" % (kind, chip)))
                  for kind in ("2022_clearmedian", "bestdate")]
        if chip not in held_out:
            images += read_series_dates(os.path.join(austria, "netcdf", "S2_2022_%s.nc" % chip), DATES_PER_CHIP)
        target = test if chip in held_out else train
        target.extend((image, label, valid) for image, valid in images)
    scene = virginia(os.path.join(data, "s2_scenes", "virginia_18SVG_20160112_L1C"))
    half = scene.shape[1] // 2
    rng = np.random.default_rng(SEED)
    for part, target, crops in ((scene[:, :half], train, 24), (scene[:, half:], background_test, 24)):
        for _ in range(crops):
            top, left = rng.integers(0, part.shape[0] - 64), rng.integers(0, part.shape[1] - 64)
            crop = part[top:top + 64, left:left + 64]
            target.append((crop, np.zeros(crop.shape[:2], np.int64), np.ones(crop.shape[:2], bool)))
    return train, test, background_test, [c for c in usable if c not in held_out], held_out


def patches(image):
    """3 × 3 neighbourhoods with zero padding: (rows, cols, channels, 3, 3), as an ONNX 'same' convolution sees."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    return np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(0, 1))


def unpatch(gradient, shape):
    """Adjoint of :func:`patches`: sums the gradient of every neighbourhood back onto the image."""
    rows, cols, channels = shape
    padded = np.zeros((rows + 2, cols + 2, channels))
    for dy in range(3):
        for dx in range(3):
            padded[dy:dy + rows, dx:dx + cols] += gradient[..., dy, dx]
    return padded[1:-1, 1:-1]


def forward(weights, image):
    """Activations of the network on one standardised image (rows, cols, 6)."""
    cols1 = patches(image).reshape(-1, weights["w1"][0].size)
    z1 = cols1 @ weights["w1"].reshape(HIDDEN, -1).T + weights["b1"]
    a1 = np.maximum(z1, 0).reshape(image.shape[0], image.shape[1], HIDDEN)
    cols2 = patches(a1).reshape(-1, weights["w2"][0].size)
    z2 = cols2 @ weights["w2"].reshape(HIDDEN, -1).T + weights["b2"]
    a2 = np.maximum(z2, 0)
    logits = a2 @ weights["w3"].reshape(2, -1).T + weights["b3"]
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return dict(cols1=cols1, z1=z1, a1=a1, cols2=cols2, z2=z2, a2=a2, probabilities=probabilities)


def loss_gradient(weights, image, label, valid):
    """Class-balanced cross-entropy of one image and its gradient by weight."""
    state = forward(weights, image)
    flat_label, flat_valid = label.ravel(), valid.ravel()
    sample = np.zeros(flat_label.size)
    for value in (0, 1):
        chosen = flat_valid & (flat_label == value)
        if chosen.any():
            sample[chosen] = 0.5 / chosen.sum()
    sample /= max(sample.sum(), 1e-12)
    probability = state["probabilities"][np.arange(flat_label.size), flat_label]
    loss = -(sample * np.log(np.maximum(probability, 1e-9))).sum()
    d_logits = state["probabilities"].copy()
    d_logits[np.arange(flat_label.size), flat_label] -= 1
    d_logits *= sample[:, None]
    grad = {"w3": (d_logits.T @ state["a2"]).reshape(weights["w3"].shape), "b3": d_logits.sum(axis=0)}
    d_z2 = (d_logits @ weights["w3"].reshape(2, -1)) * (state["z2"] > 0)
    grad["w2"] = (d_z2.T @ state["cols2"]).reshape(weights["w2"].shape)
    grad["b2"] = d_z2.sum(axis=0)
    d_cols2 = (d_z2 @ weights["w2"].reshape(HIDDEN, -1)).reshape(image.shape[0], image.shape[1], HIDDEN, 3, 3)
    d_a1 = unpatch(d_cols2, state["a1"].shape).reshape(-1, HIDDEN)
    d_z1 = d_a1 * (state["z1"] > 0)
    grad["w1"] = (d_z1.T @ state["cols1"]).reshape(weights["w1"].shape)
    grad["b1"] = d_z1.sum(axis=0)
    return loss, grad


def initial_weights(rng):
    """He-initialised weights in ONNX layout (out, in, kh, kw)."""
    def he(shape):
        return rng.normal(0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
    return {"w1": he((HIDDEN, len(BANDS), 3, 3)), "b1": np.zeros(HIDDEN), "w2": he((HIDDEN, HIDDEN, 3, 3)),
            "b2": np.zeros(HIDDEN), "w3": he((2, HIDDEN, 1, 1)), "b3": np.zeros(2)}


def train(samples, mean, std):
    """Adam over the training images, one image per step, :data:`EPOCHS` passes."""
    rng = np.random.default_rng(SEED)
    weights = initial_weights(rng)
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in weights.items()}
    step = 0
    for epoch in range(EPOCHS):
        total = 0.0
        for index in rng.permutation(len(samples)):
            image, label, valid = samples[index]
            loss, grad = loss_gradient(weights, np.where(valid[..., None], (image - mean) / std, 0), label, valid)
            total += loss
            step += 1
            for key, value in grad.items():
                first, second = moments[key]
                first[:] = 0.9 * first + 0.1 * value
                second[:] = 0.999 * second + 0.001 * value ** 2
                weights[key] -= LEARNING_RATE * (first / (1 - 0.9 ** step)) / (
                    np.sqrt(second / (1 - 0.999 ** step)) + 1e-8)
        if epoch % 20 == 0 or epoch == EPOCHS - 1:
            print("epoch %d: mean loss %.4f" % (epoch, total / len(samples)), file=sys.stderr)
    return weights


def scores(weights, samples, mean, std):
    """Pixel counts of true/false positives and negatives over valid pixels of ``samples``."""
    counts = np.zeros(4, np.int64)
    for image, label, valid in samples:
        predicted = forward(weights, np.where(valid[..., None], (image - mean) / std, 0))["probabilities"][:, 1]
        predicted = (predicted >= 0.5).reshape(label.shape)
        truth = label.astype(bool)
        counts += [np.sum(predicted & truth & valid), np.sum(predicted & ~truth & valid),
                   np.sum(~predicted & truth & valid), np.sum(~predicted & ~truth & valid)]
    return counts


def export(weights, mean, std, path, description):
    """The network as an ONNX file (opset 13) with Deepness-compatible metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def initializer(name):
        return numpy_helper.from_array(weights[name].astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["input", "w1", "b1"], ["z1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["z1"], ["a1"]),
             helper.make_node("Conv", ["a1", "w2", "b2"], ["z2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["z2"], ["a2"]),
             helper.make_node("Conv", ["a2", "w3", "b3"], ["logits"], kernel_shape=[1, 1]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    graph = helper.make_graph(
        nodes, "pv_segmenter",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", len(BANDS), "height", "width"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2, "height", "width"])],
        [initializer(name) for name in ("w1", "b1", "w2", "b2", "w3", "b3")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fusion_pv_mapping")
    model.ir_version = 7
    model.doc_string = description
    metadata = {"model_type": "Segmentor", "class_names": CLASS_NAMES, "resolution": 1000,
                "tiles_size": TILE_SIZE, "tiles_overlap": TILE_OVERLAP_PERCENT,
                "standardization_mean": [float(v) for v in mean], "standardization_std": [float(v) for v in std],
                "band_names": list(BANDS)}
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="the shared data folder (with austria_pv/ and s2_scenes/)")
    parser.add_argument("output", help="the .onnx file to write")
    arguments = parser.parse_args()
    train_samples, test_samples, background_samples, train_ids, test_ids = load_samples(arguments.data)
    pixels = np.concatenate([image[valid] for image, _, valid in train_samples])
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    weights = train(train_samples, mean, std)
    report = {}
    for name, samples in (("train", train_samples), ("held_out", test_samples),
                          ("held_out_background", background_samples)):
        tp, fp, fn, tn = (int(v) for v in scores(weights, samples, mean, std))
        report[name] = {"iou": tp / max(tp + fp + fn, 1), "precision": tp / max(tp + fp, 1),
                        "recall": tp / max(tp + fn, 1), "false_positive_rate": fp / max(fp + tn, 1),
                        "pixels": tp + fp + fn + tn}
    report["train_chips"], report["held_out_chips"] = train_ids, test_ids
    description = ("Fusion PV Mapping PV segmenter: Sentinel-2 L2A DN (B02 B03 B04 B08 B11 B12) → P(not PV), P(PV) "
                   "per pixel. Trained on the public Austrian chips with OSM outlines (split by plant) and Virginia "
                   "L1C background. Held-out pixel IoU %.3f." % report["held_out"]["iou"])
    export(weights, mean, std, arguments.output, description)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
