"""Read Caffe's ``.caffemodel`` files without Caffe: the protobuf wire format, decoded by hand.

A .caffemodel is a serialised ``caffe.NetParameter``. Only the parts that
carry weights are read (field numbers from Caffe's caffe.proto):

    NetParameter      name = 1, layers = 2 (V1LayerParameter, old files), layer = 100 (LayerParameter)
    LayerParameter    name = 1, type = 2 (string), blobs = 7
    V1LayerParameter  name = 4, type = 5 (enum), blobs = 6
    BlobProto         num = 1, channels = 2, height = 3, width = 4 (old 4-D shape), data = 5 (float),
                      shape = 7 (BlobShape: dim = 1, int64), double_data = 8

Why not protobuf's own parser: a VGG-16 caffemodel is ~550 MB, most of it in
two ``repeated float`` fields; decoding them element by element into Python
objects is slow and memory-hungry, while the packed bytes map straight onto a
numpy array here (``np.frombuffer``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

# Wire types (protobuf encoding).
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5

NET_NAME, NET_LAYERS_V1, NET_LAYER = 1, 2, 100
LAYER_NAME, LAYER_TYPE, LAYER_BLOBS = 1, 2, 7
V1_NAME, V1_TYPE, V1_BLOBS = 4, 5, 6
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH, BLOB_DATA, BLOB_SHAPE, BLOB_DOUBLE_DATA = 1, 2, 3, 4, 5, 7, 8
SHAPE_DIM = 1

#: V1LayerParameter.LayerType values of the layers that carry weights (the rest keep their number).
V1_LAYER_TYPES = {4: "Convolution", 14: "InnerProduct", 39: "Deconvolution", 3: "Concat", 18: "ReLU", 17: "Pooling", 6: "Dropout"}


class CaffeModelError(ValueError):
    """A .caffemodel file that cannot be decoded."""


@dataclass
class CaffeLayer:
    name: str
    type: str
    blobs: list[np.ndarray] = field(default_factory=list)  # float32, in the blob's own shape


@dataclass
class CaffeNet:
    name: str
    layers: list[CaffeLayer]
    path: Path | None = None

    def weighted_layers(self) -> dict[str, CaffeLayer]:
        """The layers that carry blobs, by name (the only ones an importer needs)."""
        return {layer.name: layer for layer in self.layers if layer.blobs}


def read_caffemodel(path: "str | Path") -> CaffeNet:
    """Decode a .caffemodel file's layer names, types and weight blobs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .caffemodel file")
    try:
        return parse_net(path.read_bytes(), path)
    except CaffeModelError as error:
        raise CaffeModelError(f"{path}: {error}") from None


def parse_net(buffer: bytes, path: Path | None = None) -> CaffeNet:
    name, layers = "", []
    for number, wire, value in _fields(memoryview(buffer)):
        if number == NET_NAME and wire == LENGTH_DELIMITED:
            name = _text(value)
        elif number == NET_LAYER and wire == LENGTH_DELIMITED:
            layers.append(_parse_layer(value, LAYER_NAME, LAYER_TYPE, LAYER_BLOBS))
        elif number == NET_LAYERS_V1 and wire == LENGTH_DELIMITED:
            layers.append(_parse_layer(value, V1_NAME, V1_TYPE, V1_BLOBS))
    if not layers:
        raise CaffeModelError("no layers found: not a Caffe NetParameter (.caffemodel) file")
    return CaffeNet(name, layers, path)


def _parse_layer(buffer: memoryview, name_field: int, type_field: int, blobs_field: int) -> CaffeLayer:
    layer = CaffeLayer(name="", type="")
    for number, wire, value in _fields(buffer):
        if number == name_field and wire == LENGTH_DELIMITED:
            layer.name = _text(value)
        elif number == type_field:
            # LayerParameter.type is a string; V1LayerParameter.type an enum (varint).
            layer.type = _text(value) if wire == LENGTH_DELIMITED else V1_LAYER_TYPES.get(value, f"V1:{value}")
        elif number == blobs_field and wire == LENGTH_DELIMITED:
            layer.blobs.append(_parse_blob(value, layer.name))
    return layer


def _parse_blob(buffer: memoryview, layer_name: str) -> np.ndarray:
    legacy = {BLOB_NUM: 1, BLOB_CHANNELS: 1, BLOB_HEIGHT: 1, BLOB_WIDTH: 1}
    shape: list[int] | None = None
    chunks: list[np.ndarray] = []
    for number, wire, value in _fields(buffer):
        if number in legacy and wire == VARINT:
            legacy[number] = value
        elif number == BLOB_SHAPE and wire == LENGTH_DELIMITED:
            shape = _parse_shape(value)
        elif number == BLOB_DATA:
            # Packed (one length-delimited run) or, in files written without packing, one fixed32 per value.
            chunks.append(np.frombuffer(value, dtype="<f4") if wire == LENGTH_DELIMITED else np.array([value], "<f4"))
        elif number == BLOB_DOUBLE_DATA:
            chunks.append(np.frombuffer(value, dtype="<f8") if wire == LENGTH_DELIMITED else np.array([value], "<f8"))
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if shape is None:
        shape = [legacy[BLOB_NUM], legacy[BLOB_CHANNELS], legacy[BLOB_HEIGHT], legacy[BLOB_WIDTH]]
    if int(np.prod(shape)) != data.size:
        raise CaffeModelError(f"layer {layer_name!r}: a blob of shape {tuple(shape)} holds {data.size} values")
    return data.reshape(shape)


def _parse_shape(buffer: memoryview) -> list[int]:
    dims: list[int] = []
    for number, wire, value in _fields(buffer):
        if number != SHAPE_DIM:
            continue
        if wire == VARINT:
            dims.append(value)
        elif wire == LENGTH_DELIMITED:  # packed
            dims.extend(_packed_varints(value))
    return dims


def _fields(buffer: memoryview) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of each field of one message.

    Values: int for varints, a memoryview for length-delimited fields, the
    raw little-endian value (as a float for fixed32, bytes for fixed64).
    """
    position, end = 0, len(buffer)
    while position < end:
        key, position = _varint(buffer, position)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CaffeModelError(f"corrupt data at byte {position}: field number 0")
        if wire == VARINT:
            value, position = _varint(buffer, position)
        elif wire == LENGTH_DELIMITED:
            length, position = _varint(buffer, position)
            if position + length > end:
                raise CaffeModelError(f"truncated: a field of {length} bytes at byte {position} runs past the end")
            value, position = buffer[position : position + length], position + length
        elif wire == FIXED32:
            value, position = float(np.frombuffer(buffer[position : position + 4], "<f4")[0]), position + 4
        elif wire == FIXED64:
            value, position = bytes(buffer[position : position + 8]), position + 8
        else:
            raise CaffeModelError(f"corrupt data at byte {position}: wire type {wire} (groups are not used by Caffe)")
        if position > end:
            raise CaffeModelError("truncated: the last field runs past the end of the file")
        yield number, wire, value


def _varint(buffer: memoryview, position: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if position >= len(buffer):
            raise CaffeModelError("truncated: a number runs past the end of the data")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise CaffeModelError(f"corrupt data at byte {position}: a varint longer than 10 bytes")


def _packed_varints(buffer: memoryview) -> list[int]:
    values, position = [], 0
    while position < len(buffer):
        value, position = _varint(buffer, position)
        values.append(value)
    return values


def _text(value: object) -> str:
    if not isinstance(value, memoryview):
        raise CaffeModelError(f"expected a string field, got {value!r}")
    return bytes(value).decode("utf-8", errors="replace")
