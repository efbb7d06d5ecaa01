"""Contract of the shipped fashionnet extractor: 256-d float32 unit vectors, predictions, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from engine import registry
from engine.contracts import GarmentCrops, Role
from engine.data.sources import retrieval_set
from engine.imageio import load_image
from engine.types import Detection, Landmarks, Visibility


@pytest.fixture(scope="module")
def extractor():
    return registry.load_plugin(Role.EXTRACTOR, "fashionnet")


@pytest.fixture(scope="module")
def crops_and_landmarks(tiny_c2s):
    images = retrieval_set(tiny_c2s).images[:6]
    crops = GarmentCrops.concat(
        [GarmentCrops.from_detections(load_image(i.image_path), [Detection(i.box, i.garment_type, 1.0)]) for i in images]
    )
    return crops, [Landmarks(i.points, i.visibility) for i in images]


def test_declares_dimension_metric_and_weights(extractor):
    info = extractor.info
    assert info.role is Role.EXTRACTOR and info.embedding_dim == 256 and info.metric == "cosine"
    assert registry.weights_status(type(extractor)) == "ok"


def test_embeddings_are_unit_float32_vectors_with_predictions(extractor, crops_and_landmarks):
    crops, landmarks = crops_and_landmarks
    embeddings = extractor.extract_crops(crops, landmarks)
    assert len(embeddings) == len(crops)
    for embedding in embeddings:
        assert embedding.vector.dtype == np.float32 and embedding.vector.shape == (256,)
        assert np.linalg.norm(embedding.vector) == pytest.approx(1.0, abs=1e-4)
        assert embedding.category in extractor.category_names
        assert sum(embedding.category_scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert embedding.model == extractor.info.key


def test_deterministic_and_batch_independent(extractor, crops_and_landmarks):
    crops, landmarks = crops_and_landmarks
    first = np.stack([e.vector for e in extractor.extract_crops(crops, landmarks)])
    second = np.stack([e.vector for e in extractor.extract_crops(crops, landmarks)])
    assert np.array_equal(first, second)
    single = extractor.extract_crops(
        GarmentCrops(crops.canvases[:1], crops.letterboxes[:1], crops.detections[:1]), landmarks[:1]
    )[0].vector
    assert np.allclose(single, first[0], atol=1e-4)


def test_landmarks_matter_and_absent_ones_are_masked(extractor, crops_and_landmarks):
    crops, landmarks = crops_and_landmarks
    one = GarmentCrops(crops.canvases[:1], crops.letterboxes[:1], crops.detections[:1])
    base = extractor.extract_crops(one, landmarks[:1])[0].vector
    moved = Landmarks(landmarks[0].points + 25, landmarks[0].visibility)
    assert not np.allclose(extractor.extract_crops(one, [moved])[0].vector, base, atol=1e-3)
    hidden = Landmarks(landmarks[0].points, np.full(8, Visibility.ABSENT))
    far_hidden = Landmarks(landmarks[0].points + 25, np.full(8, Visibility.ABSENT))
    a = extractor.extract_crops(one, [hidden])[0].vector
    b = extractor.extract_crops(one, [far_hidden])[0].vector
    assert np.allclose(a, b, atol=1e-5)  # masked slots: positions no longer matter


def test_one_landmark_set_per_crop_is_required(extractor, crops_and_landmarks):
    crops, landmarks = crops_and_landmarks
    with pytest.raises(ValueError, match="one per crop"):
        extractor.extract_crops(crops, landmarks[:1])


def test_predicted_category_judges_the_pixels_not_the_guessed_type(extractor, crops_and_landmarks):
    """A detector's guess (the type the crop is described with) must not become the category it predicts."""
    from dataclasses import replace

    from engine.types import GarmentType

    crops, landmarks = crops_and_landmarks
    for garment_type in GarmentType:
        retyped = GarmentCrops(crops.canvases, crops.letterboxes,
                               [replace(d, garment_type=garment_type) for d in crops.detections], crops.photo_edges)
        moved = [Landmarks(l.points * 0.9, np.full(8, Visibility.VISIBLE)) for l in landmarks]
        for original, other in zip(extractor.extract_crops(crops, landmarks), extractor.extract_crops(retyped, moved)):
            assert original.category_scores == pytest.approx(other.category_scores, abs=1e-5)
