"""Caffe .caffemodel files for tests, serialised by Google's protobuf library (not by the project's reader).

The message types are declared here from Caffe's caffe.proto field numbers,
so a file written here is what Caffe itself would write: new-style files
(``layer`` = 100, blob ``shape``) and old V1 files (``layers`` = 2, 4-D
num/channels/height/width blobs) both.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from engine.models.dfa_vgg16 import DfaStage

_F = descriptor_pb2.FieldDescriptorProto


def _message(file_proto, name: str, fields: list[tuple]) -> None:
    message = file_proto.message_type.add(name=name)
    for field_name, number, kind, label, type_name, packed in fields:
        field = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
        if packed:
            field.options.packed = True


def _classes():
    file_proto = descriptor_pb2.FileDescriptorProto(name="caffe_test.proto", package="caffe", syntax="proto2")
    optional, repeated = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    _message(file_proto, "BlobShape", [("dim", 1, _F.TYPE_INT64, repeated, None, True)])
    _message(file_proto, "BlobProto", [
        ("num", 1, _F.TYPE_INT32, optional, None, False),
        ("channels", 2, _F.TYPE_INT32, optional, None, False),
        ("height", 3, _F.TYPE_INT32, optional, None, False),
        ("width", 4, _F.TYPE_INT32, optional, None, False),
        ("data", 5, _F.TYPE_FLOAT, repeated, None, True),
        ("diff", 6, _F.TYPE_FLOAT, repeated, None, True),
        ("shape", 7, _F.TYPE_MESSAGE, optional, ".caffe.BlobShape", False),
    ])
    _message(file_proto, "LayerParameter", [
        ("name", 1, _F.TYPE_STRING, optional, None, False),
        ("type", 2, _F.TYPE_STRING, optional, None, False),
        ("bottom", 3, _F.TYPE_STRING, repeated, None, False),
        ("top", 4, _F.TYPE_STRING, repeated, None, False),
        ("blobs", 7, _F.TYPE_MESSAGE, repeated, ".caffe.BlobProto", False),
    ])
    _message(file_proto, "V1LayerParameter", [
        ("bottom", 2, _F.TYPE_STRING, repeated, None, False),
        ("top", 3, _F.TYPE_STRING, repeated, None, False),
        ("name", 4, _F.TYPE_STRING, optional, None, False),
        ("type", 5, _F.TYPE_INT32, optional, None, False),  # an enum on the wire is a varint
        ("blobs", 6, _F.TYPE_MESSAGE, repeated, ".caffe.BlobProto", False),
    ])
    _message(file_proto, "NetParameter", [
        ("name", 1, _F.TYPE_STRING, optional, None, False),
        ("layers", 2, _F.TYPE_MESSAGE, repeated, ".caffe.V1LayerParameter", False),
        ("layer", 100, _F.TYPE_MESSAGE, repeated, ".caffe.LayerParameter", False),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}"))
            for name in ("NetParameter",)}


NetParameter = _classes()["NetParameter"]
V1_CONVOLUTION, V1_INNER_PRODUCT, V1_RELU, V1_POOLING = 4, 14, 18, 17


def random_weights(stage: DfaStage, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Layer name -> (weights, bias) with the stage's shapes, scaled to keep activations in range."""
    weights = {}
    for name, module in stage.layers.items():
        shape = tuple(module.weight.shape)
        fan_in = int(np.prod(shape[1:]))
        w = rng.normal(0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        b = rng.normal(0, 0.1, size=shape[0]).astype(np.float32)
        weights[name] = (w, b)
    return weights


def write_caffemodel(path: Path, net_name: str, weights: dict, legacy: bool = False) -> Path:
    """A .caffemodel with ``weights`` (layer -> (w, b)), plus weightless layers as a real net has."""
    net = NetParameter(name=net_name)
    for name, (w, b) in weights.items():
        if legacy:
            layer = net.layers.add(name=name, type=V1_CONVOLUTION if name.startswith("conv") else V1_INNER_PRODUCT)
            # Old files: fully connected weights as (1, 1, out, in), every bias as (1, 1, 1, out).
            w_shape = w.shape if w.ndim == 4 else (1, 1, *w.shape)
            for array, shape in ((w, w_shape), (b, (1, 1, 1, b.size))):
                blob = layer.blobs.add(num=shape[0], channels=shape[1], height=shape[2], width=shape[3])
                blob.data.extend(array.ravel().tolist())
            net.layers.add(name=f"relu_{name}", type=V1_RELU)
        else:
            layer = net.layer.add(name=name, type="Convolution" if name.startswith("conv") else "InnerProduct")
            for array in (w, b):
                blob = layer.blobs.add()
                blob.shape.dim.extend(array.shape)
                blob.data.extend(array.ravel().tolist())
            net.layer.add(name=f"relu_{name}", type="ReLU")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(net.SerializeToString())
    return path
