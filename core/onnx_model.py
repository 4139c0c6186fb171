"""What an ONNX model file says about itself, read without the ``onnx`` package.

An ONNX file is a Protocol Buffers message (``ModelProto`` of onnx.proto3). This module decodes the few fields the
model runner needs — IR version, graph inputs and outputs with their shapes, metadata (``metadata_props``), and,
for checking a network independently, its nodes and weights — so that models can be inspected where only OpenCV's
DNN module is available.
"""
import struct
from dataclasses import dataclass, field

import numpy as np

# Field numbers of onnx.proto3.
_MODEL_IR_VERSION, _MODEL_DOC, _MODEL_GRAPH, _MODEL_METADATA = 1, 6, 7, 14
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 5, 11, 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE = 1, 2, 4, 5
_ATTRIBUTE_NAME, _ATTRIBUTE_FLOAT, _ATTRIBUTE_INT, _ATTRIBUTE_INTS = 1, 2, 3, 8
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_FLOATS, _TENSOR_NAME, _TENSOR_RAW = 1, 2, 4, 8, 9
_TENSOR_FLOAT, _TENSOR_INT64 = 1, 7
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class NotAnOnnxModel(ValueError):
    """The file is not an ONNX model."""


@dataclass
class TensorInfo:
    """A graph input or output: its name and shape, each dimension an int or None (symbolic, e.g. batch)."""
    name: str
    shape: tuple


@dataclass
class Node:
    """One operator of the graph: type, input and output names, attributes (ints, floats or lists of ints)."""
    op_type: str
    inputs: list
    outputs: list
    attributes: dict


@dataclass
class OnnxModel:
    """The parts of an ONNX model the runner uses (see module docstring)."""
    ir_version: int
    inputs: list
    outputs: list
    metadata: dict
    description: str = ""
    nodes: list = field(default_factory=list)
    weights: dict = field(default_factory=dict)


def _varint(data, position):
    """A base-128 varint at ``position``: (value, next position)."""
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise NotAnOnnxModel("truncated or malformed varint")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if byte < 0x80:
            return value, position
        shift += 7


def _fields(data):
    """(field number, wire type, value) of every field of a message; bytes fields as memoryview slices."""
    data = memoryview(data)
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, position = _varint(data, position)
        elif wire == _FIXED64:
            value, position = data[position:position + 8], position + 8
        elif wire == _FIXED32:
            value, position = data[position:position + 4], position + 4
        elif wire == _BYTES:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        else:
            raise NotAnOnnxModel("unknown wire type %d" % wire)
        if number == 0 or position > len(data):
            raise NotAnOnnxModel("malformed message")
        yield number, wire, value


def _text(value):
    return bytes(value).decode("utf-8", errors="replace")


def _packed_varints(wire, value):
    """Repeated int64: one varint, or a packed run of them."""
    if wire == _VARINT:
        return [value]
    numbers, position = [], 0
    while position < len(value):
        number, position = _varint(value, position)
        numbers.append(number - (1 << 64) if number >= 1 << 63 else number)
    return numbers


def _value_info(data):
    """A ValueInfoProto as :class:`TensorInfo`."""
    name, shape = "", ()
    for number, _, value in _fields(data):
        if number == 1:
            name = _text(value)
        elif number == 2:  # TypeProto
            for type_field, _, tensor in _fields(value):
                if type_field != 1:  # tensor_type
                    continue
                for tensor_field, _, shape_proto in _fields(tensor):
                    if tensor_field == 2:
                        shape = tuple(_dimension(dim) for dim_field, _, dim in _fields(shape_proto) if dim_field == 1)
    return TensorInfo(name, shape)


def _dimension(data):
    """A TensorShapeProto.Dimension: its value, or None when symbolic or unknown."""
    for number, wire, value in _fields(data):
        if number == 1 and wire == _VARINT:
            return value
    return None


def _node(data):
    inputs, outputs, op_type, attributes = [], [], "", {}
    for number, _, value in _fields(data):
        if number == _NODE_INPUT:
            inputs.append(_text(value))
        elif number == _NODE_OUTPUT:
            outputs.append(_text(value))
        elif number == _NODE_OP_TYPE:
            op_type = _text(value)
        elif number == _NODE_ATTRIBUTE:
            name, attribute = "", None
            for attribute_field, wire, item in _fields(value):
                if attribute_field == _ATTRIBUTE_NAME:
                    name = _text(item)
                elif attribute_field == _ATTRIBUTE_FLOAT:
                    attribute = struct.unpack("<f", bytes(item))[0]
                elif attribute_field == _ATTRIBUTE_INT:
                    attribute = item - (1 << 64) if item >= 1 << 63 else item
                elif attribute_field == _ATTRIBUTE_INTS:
                    attribute = (attribute or []) + _packed_varints(wire, item)
            attributes[name] = attribute
    return Node(op_type, inputs, outputs, attributes)


def _tensor(data):
    """A TensorProto of float32 or int64 as (name, array); other types give (name, None)."""
    name, dims, data_type, floats, raw = "", [], 0, [], None
    for number, wire, value in _fields(data):
        if number == _TENSOR_DIMS:
            dims += _packed_varints(wire, value)
        elif number == _TENSOR_TYPE:
            data_type = value
        elif number == _TENSOR_FLOATS:
            floats.append(np.frombuffer(bytes(value), "<f4"))
        elif number == _TENSOR_NAME:
            name = _text(value)
        elif number == _TENSOR_RAW:
            raw = bytes(value)
    dtype = {_TENSOR_FLOAT: "<f4", _TENSOR_INT64: "<i8"}.get(data_type)
    if dtype is None:
        return name, None
    values = np.frombuffer(raw, dtype) if raw is not None else (np.concatenate(floats) if floats else np.zeros(0))
    return name, values.astype(dtype[1:] if dtype != "<f4" else np.float32).reshape(dims)


def parse_onnx(data, with_weights=False):
    """An :class:`OnnxModel` from the bytes of an ONNX file (nodes and weights only when ``with_weights``).
    Raises :class:`NotAnOnnxModel` when the bytes are not one."""
    ir_version, graph, metadata, description = None, None, {}, ""
    try:
        for number, wire, value in _fields(data):
            if number == _MODEL_IR_VERSION and wire == _VARINT:
                ir_version = value
            elif number == _MODEL_GRAPH and wire == _BYTES:
                graph = value
            elif number == _MODEL_DOC and wire == _BYTES:
                description = _text(value)
            elif number == _MODEL_METADATA and wire == _BYTES:
                entry = {key: _text(item) for key, _, item in _fields(value)}
                metadata[entry.get(1, "")] = entry.get(2, "")
        if ir_version is None or graph is None:
            raise NotAnOnnxModel("no ONNX model header and graph")
        inputs, outputs, nodes, weights = [], [], [], {}
        for number, _, value in _fields(graph):
            if number == _GRAPH_INPUT:
                inputs.append(_value_info(value))
            elif number == _GRAPH_OUTPUT:
                outputs.append(_value_info(value))
            elif number == _GRAPH_NODE and with_weights:
                nodes.append(_node(value))
            elif number == _GRAPH_INITIALIZER:
                name, array = _tensor(value) if with_weights else (_initializer_name(value), None)
                weights[name] = array
    except (NotAnOnnxModel, UnicodeDecodeError, ValueError, struct.error) as error:
        raise NotAnOnnxModel(str(error)) from error
    inputs = [tensor for tensor in inputs if tensor.name not in weights]  # IR < 4 lists weights as inputs
    if not inputs or not outputs:
        raise NotAnOnnxModel("the graph has no input or no output")
    return OnnxModel(ir_version, inputs, outputs, metadata, description, nodes,
                     weights if with_weights else {})


def _initializer_name(data):
    for number, _, value in _fields(data):
        if number == _TENSOR_NAME:
            return _text(value)
    return ""


def read_onnx(path, with_weights=False):
    """:func:`parse_onnx` of the file at ``path``."""
    with open(path, "rb") as stream:
        return parse_onnx(stream.read(), with_weights)
