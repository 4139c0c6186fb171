"""Writes small ONNX models for tests, as Protocol Buffers bytes, without the ``onnx`` package.

Only what the tests need: float32 tensors, nodes with int / ints attributes, inputs and outputs with fixed or
symbolic dimensions, and metadata. Field numbers follow onnx.proto3.
"""
import json
import struct

import numpy as np


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes_field(number, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number, value):
    return _varint(number << 3) + _varint(value)


def _value_info(name, shape):
    dims = b"".join(_bytes_field(1, _int_field(1, d) if isinstance(d, int) else _bytes_field(2, d)) for d in shape)
    tensor_type = _int_field(1, 1) + _bytes_field(2, dims)  # elem_type FLOAT, shape
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


def _tensor(name, array):
    array = np.asarray(array, np.float32)
    return (b"".join(_int_field(1, d) for d in array.shape) + _int_field(2, 1) + _bytes_field(8, name)
            + _bytes_field(9, array.tobytes()))


def _attribute(name, value):
    if isinstance(value, (list, tuple)):
        return _bytes_field(1, name) + b"".join(_int_field(8, v) for v in value) + _int_field(20, 7)  # INTS
    if isinstance(value, float):
        return _bytes_field(1, name) + _varint(2 << 3 | 5) + struct.pack("<f", value) + _int_field(20, 1)
    return _bytes_field(1, name) + _int_field(3, value) + _int_field(20, 2)  # INT


def node(op_type, inputs, outputs, **attributes):
    """A NodeProto."""
    return (b"".join(_bytes_field(1, i) for i in inputs) + b"".join(_bytes_field(2, o) for o in outputs)
            + _bytes_field(4, op_type) + b"".join(_bytes_field(5, _attribute(k, v)) for k, v in attributes.items()))


def two_output_model(metadata=None):
    """A 6-channel model with two outputs: features (1, 8, h, w) first, class scores (1, 3, h, w) second."""
    rng = np.random.default_rng(7)
    nodes = [node("Conv", ["input", "wf"], ["features"], kernel_shape=[1, 1]),
             node("Conv", ["input", "wc"], ["logits"], kernel_shape=[1, 1]),
             node("Softmax", ["logits"], ["classes"], axis=1)]
    weights = {"wf": rng.normal(size=(8, 6, 1, 1)), "wc": rng.normal(size=(3, 6, 1, 1)) / 1000}
    return model(nodes, [1, 6, "h", "w"], {"features": [1, 8, "h", "w"], "classes": [1, 3, "h", "w"]}, weights,
                 metadata)


def nan_model(metadata=None):
    """A 6-channel model answering log(−x): NaN for every positive input."""
    return model([node("Neg", ["input"], ["negative"]), node("Log", ["negative"], ["output"])], [1, 6, "h", "w"],
                 [1, 6, "h", "w"], metadata=metadata)


def model(nodes, input_shape, output_shape, weights=None, metadata=None, opset=13):
    """ModelProto bytes: one input ``input`` and one output ``output`` (shapes with ints or names), or several
    outputs when ``output_shape`` is a dict {name: shape} (in graph order)."""
    outputs = output_shape if isinstance(output_shape, dict) else {"output": output_shape}
    graph = (b"".join(_bytes_field(1, n) for n in nodes) + _bytes_field(2, "test")
             + b"".join(_bytes_field(5, _tensor(k, v)) for k, v in (weights or {}).items())
             + _bytes_field(11, _value_info("input", input_shape))
             + b"".join(_bytes_field(12, _value_info(name, shape)) for name, shape in outputs.items()))
    props = b"".join(_bytes_field(14, _bytes_field(1, k) + _bytes_field(2, json.dumps(v)))
                     for k, v in (metadata or {}).items())
    opset_import = _bytes_field(8, _bytes_field(1, "") + _int_field(2, opset))
    return _int_field(1, 7) + _bytes_field(7, graph) + opset_import + props
