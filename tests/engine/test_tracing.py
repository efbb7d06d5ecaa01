"""Traced inference gives the eager modules' numbers, for any batch size and with or without optional inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.contracts import GarmentCrops
from engine.data.sources import landmark_records
from engine.imageio import load_image
from engine.models.tracing import TracedInference
from engine.training.features import encode_canvases
from engine.types import Detection
from plugins.cascade_cnn import CascadeCnnAligner
from plugins.fashionnet import FashionNetExtractor


@pytest.fixture(scope="module")
def crops(tiny_fld):
    records = landmark_records(tiny_fld)[:4]
    parts = []
    for record in records:
        image = load_image(record.image_path)
        detection = Detection(record.box, record.garment_type, 1.0, joints=record.joints)
        parts.append(GarmentCrops.from_detections(image, [detection]))
    return GarmentCrops.concat(parts)


def without_joints(crops: GarmentCrops) -> GarmentCrops:
    detections = [Detection(d.box, d.garment_type, d.score) for d in crops.detections]
    return GarmentCrops(crops.canvases, crops.letterboxes, detections, crops.photo_edges, crops.photos)


def run_both(monkeypatch, fn):
    monkeypatch.setenv("STREETSHOP_TRACE", "0")
    eager = fn()
    monkeypatch.setenv("STREETSHOP_TRACE", "1")
    return eager, fn()


# How far traced and eager may differ: float rounding, which can flip an int8 rounding too
# (engine.models.int8) and move a landmark by hundredths of a pixel.
PIXELS = {False: 1e-2, True: 5e-2}
EMBEDDING = {False: 1e-5, True: 1e-3}


@pytest.fixture(params=[False, True], ids=["float32", "int8"])
def int8(request, monkeypatch):
    monkeypatch.setenv("STREETSHOP_INT8", "1" if request.param else "0")
    return request.param


@pytest.mark.parametrize("joints", [False, True])
def test_traced_aligner_equals_eager_for_several_batch_sizes(crops, monkeypatch, joints, int8):
    aligner = CascadeCnnAligner()
    batch = crops if joints else without_joints(crops)
    assert all(d.joints is not None for d in batch.detections) == joints
    for size in (1, 4):  # the trace is made at the first size and must hold for the next
        part = GarmentCrops(batch.canvases[:size], batch.letterboxes[:size], batch.detections[:size],
                            batch.photo_edges[:size], batch.photos[:size])
        eager, traced = run_both(monkeypatch, lambda: aligner.align_crops(part))
        for a, b in zip(eager, traced):
            np.testing.assert_allclose(a.stage_points, b.stage_points, atol=PIXELS[int8])
            np.testing.assert_array_equal(a.visibility, b.visibility)


def test_traced_extractor_and_backbone_equal_eager(crops, monkeypatch, int8):
    features_eager, features_traced = run_both(monkeypatch, lambda: encode_canvases(crops.canvases))
    for name in features_eager:
        torch.testing.assert_close(features_eager[name], features_traced[name], atol=1e-3, rtol=1e-3)
    landmarks = CascadeCnnAligner().align_crops(crops)
    extractor = FashionNetExtractor()
    eager, traced = run_both(monkeypatch, lambda: extractor.extract_crops(crops, landmarks))
    for a, b in zip(eager, traced):
        np.testing.assert_allclose(a.vector, b.vector, atol=EMBEDDING[int8])
        assert a.category == b.category


def test_training_calls_the_module_itself():
    calls = []

    class Double(nn.Module):
        def forward(self, x):
            calls.append(x.requires_grad)
            return x * 2

    inference = TracedInference(Double())
    x = torch.ones(3, requires_grad=True)
    assert inference(x).requires_grad  # gradients flow: no frozen trace while training
    with torch.inference_mode():
        inference(torch.ones(3))  # traced once (the Python forward runs once eagerly, once while tracing) ...
        inference(torch.ones(5))  # ... then not again, whatever the batch size
    assert calls == [True, False, False]
