"""An independent numpy evaluation of an ONNX graph of Conv, Relu and Softmax nodes on a whole image.

It walks the graph's nodes with the weights stored in the file, with no tiling and no ONNX library: what the model
runner's tiled output must equal.
"""
import numpy as np


def convolution(image, weight, bias, pads):
    """2-D cross-correlation of (C, rows, cols) with weight (O, C, kh, kw), zero padding (top, left, bottom, right)."""
    top, left, bottom, right = pads
    padded = np.pad(image.astype(np.float64), ((0, 0), (top, bottom), (left, right)))
    out_rows = padded.shape[1] - weight.shape[2] + 1
    out_cols = padded.shape[2] - weight.shape[3] + 1
    result = np.zeros((weight.shape[0], out_rows, out_cols))
    for dy in range(weight.shape[2]):
        for dx in range(weight.shape[3]):
            window = padded[:, dy:dy + out_rows, dx:dx + out_cols]
            result += np.einsum("oc,crw->orw", weight[:, :, dy, dx].astype(np.float64), window)
    return result + bias[:, None, None]


def evaluate(model, image):
    """Output of the model's graph for one standardised image (C, rows, cols), as (1, classes, rows, cols)."""
    values = {model.inputs[0].name: image[None].astype(np.float64)}
    for node in model.nodes:
        first = values[node.inputs[0]]
        if node.op_type == "Conv":
            pads = node.attributes.get("pads", [0, 0, 0, 0])
            weight = model.weights[node.inputs[1]]
            bias = model.weights[node.inputs[2]] if len(node.inputs) > 2 else np.zeros(weight.shape[0])
            result = convolution(first[0], weight, bias, (pads[0], pads[1], pads[2], pads[3]))[None]
        elif node.op_type == "Relu":
            result = np.maximum(first, 0)
        elif node.op_type == "Softmax":
            axis = node.attributes.get("axis", -1)
            shifted = np.exp(first - first.max(axis=axis, keepdims=True))
            result = shifted / shifted.sum(axis=axis, keepdims=True)
        else:
            raise NotImplementedError(node.op_type)
        values[node.outputs[0]] = result
    return values[model.outputs[0].name]
