"""The pipeline end to end with the shipped plugins."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.data.sources import retrieval_set
from engine.imageio import load_image
from engine.models.efficientnet_lite import EfficientNetLite
from engine.pipeline import Pipeline
from engine.types import GarmentType


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline.from_config(detector="full_image", aligner="cascade_cnn", extractor="fashionnet")


@pytest.fixture(scope="module")
def shop_image(tiny_c2s):
    image = next(i for i in retrieval_set(tiny_c2s).images if i.source == "shop")
    return image, load_image(image.image_path)


def test_a_shop_photo_gives_one_garment_with_landmarks_and_embedding(pipeline, shop_image):
    record, image = shop_image
    result = pipeline.run(image, hint=record.garment_type)
    assert len(result.garments) == 1
    garment = result.garments[0]
    assert garment.detection.garment_type is record.garment_type
    assert garment.landmarks.points.shape == (8, 2)
    assert garment.embedding.vector.shape == (256,)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["plugins"]["extractor"].startswith("fashionnet@")
    assert data["image"] == {"width": image.shape[1], "height": image.shape[0]}


def test_the_backbone_runs_once_per_batch_when_aligner_and_extractor_share_it(pipeline, shop_image, monkeypatch):
    calls = []
    original = EfficientNetLite.forward_features

    def counting(self, x):
        calls.append(x.shape[0])
        return original(self, x)

    monkeypatch.setattr(EfficientNetLite, "forward_features", counting)
    monkeypatch.setenv("STREETSHOP_TRACE", "0")  # eager modules, so the Python forward is what runs
    assert pipeline.shares_backbone
    _, image = shop_image
    pipeline.run(image, hint=GarmentType.UPPER)
    assert calls == [1]


def test_batch_of_photos_matches_one_by_one(pipeline, tiny_c2s):
    images = [load_image(i.image_path) for i in retrieval_set(tiny_c2s).images[:3]]
    together = pipeline.run_batch(images)
    alone = [pipeline.run(image) for image in images]
    for a, b in zip(together, alone):
        assert np.allclose(a.garments[0].embedding.vector, b.garments[0].embedding.vector, atol=1e-4)
