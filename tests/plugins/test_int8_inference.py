"""The shipped heads with int8 layers (the CPU default) describe garments as their float32 selves do."""
from __future__ import annotations

import numpy as np
import pytest

from engine.contracts import GarmentCrops
from engine.data.sources import landmark_records
from engine.imageio import load_image
from engine.models.int8 import Int8Linear
from engine.types import Detection
from plugins.cascade_cnn import CascadeCnnAligner
from plugins.fashionnet import FashionNetExtractor


@pytest.fixture(scope="module")
def crops(tiny_fld):
    parts = []
    for record in landmark_records(tiny_fld)[:12]:
        detection = Detection(record.box, record.garment_type, 1.0, joints=record.joints)
        parts.append(GarmentCrops.from_detections(load_image(record.image_path), [detection]))
    return GarmentCrops.concat(parts)


def load_both(monkeypatch, plugin_class):
    monkeypatch.setenv("STREETSHOP_INT8", "0")
    float32 = plugin_class()
    monkeypatch.setenv("STREETSHOP_INT8", "1")
    return float32, plugin_class()


def int8_layers(plugin) -> int:
    return sum(isinstance(m, Int8Linear) for m in plugin._inference.module.modules())


def test_int8_landmarks_agree_with_float32(crops, monkeypatch):
    float32, int8 = load_both(monkeypatch, CascadeCnnAligner)
    assert int8_layers(float32) == 0 and int8_layers(int8) >= 2  # the refinement stages' wide layers
    for a, b in zip(float32.align_crops(crops), int8.align_crops(crops)):
        size = max(np.ptp(a.points, axis=0))  # the garment's extent, in pixels
        assert np.abs(a.points - b.points).max() < 0.01 * size
        assert np.mean(a.visibility == b.visibility) >= 7 / 8


def test_int8_embeddings_agree_with_float32(crops, monkeypatch):
    float32, int8 = load_both(monkeypatch, FashionNetExtractor)
    assert int8_layers(float32) == 0 and int8_layers(int8) >= 5  # wide linears + the global reductions
    landmarks = CascadeCnnAligner().align_crops(crops)
    a, b = float32.extract_crops(crops, landmarks), int8.extract_crops(crops, landmarks)
    cosines = [float(x.vector @ y.vector) for x, y in zip(a, b)]
    assert min(cosines) > 0.999
    assert [x.category for x in a] == [y.category for y in b]
    # What a search ranks by, the similarity of every pair, moves by less than a few thousandths (0.006
    # measured here), while neighbours are typically 0.01 or more apart.
    vectors_a, vectors_b = np.stack([x.vector for x in a]), np.stack([y.vector for y in b])
    assert np.abs(vectors_a @ vectors_a.T - vectors_b @ vectors_b.T).max() < 0.02
