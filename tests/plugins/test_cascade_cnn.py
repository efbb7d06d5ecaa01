"""Contract of the shipped cascade_cnn aligner: shapes, dtypes, pixel space, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from engine import registry
from engine.contracts import GarmentCrops, Role
from engine.data.sources import landmark_records
from engine.imageio import load_image
from engine.types import Box, Detection, Visibility, slot_mask


@pytest.fixture(scope="module")
def aligner():
    return registry.load_plugin(Role.ALIGNER, "cascade_cnn")


def test_declares_its_weights_and_shared_backbone(aligner):
    info = aligner.info
    assert info.role is Role.ALIGNER and info.input_size == 224
    assert info.weights_sha256 and registry.weights_status(type(aligner)) == "ok"
    assert info.version.startswith("1.0+") and info.version.endswith(info.weights_sha256[:8])
    assert info.backbone


def test_landmarks_come_back_in_photo_pixels_with_the_types_slots(aligner, tiny_fld):
    records = landmark_records(tiny_fld)[:6]
    for record in records:
        image = load_image(record.image_path)
        [landmarks] = aligner.align(image, [Detection(record.box, record.garment_type, 1.0)])
        assert landmarks.points.dtype == np.float32 and landmarks.points.shape == (8, 2)
        assert landmarks.stage_points.shape == (3, 8, 2)
        assert landmarks.visibility_scores.shape == (8, 3)
        assert np.allclose(landmarks.visibility_scores.sum(-1), 1, atol=1e-4)
        missing = ~slot_mask(record.garment_type)
        assert (landmarks.visibility[missing] == Visibility.ABSENT).all()
        # Points lie on the crop (with a margin for slots estimated at the edge).
        box = record.box.expand(0.2)
        has = slot_mask(record.garment_type)
        xs, ys = landmarks.points[has, 0], landmarks.points[has, 1]
        assert (xs >= box.x0).all() and (xs <= box.x1).all() and (ys >= box.y0).all() and (ys <= box.y1).all()


def test_a_shifted_box_moves_the_landmarks_with_it(aligner, tiny_fld):
    record = landmark_records(tiny_fld)[0]
    image = load_image(record.image_path)
    padded = np.zeros((image.shape[0] + 40, image.shape[1] + 30, 3), np.uint8)
    padded[40:, 30:] = image
    box = record.box
    moved = Box(box.x0 + 30, box.y0 + 40, box.x1 + 30, box.y1 + 40)
    [a] = aligner.align(image, [Detection(box, record.garment_type, 1.0)])
    [b] = aligner.align(padded, [Detection(moved, record.garment_type, 1.0)])
    assert np.allclose(b.points - a.points, [30, 40], atol=0.5)


def test_batched_calls_match_single_calls_and_are_deterministic(aligner, tiny_fld):
    records = landmark_records(tiny_fld)[:4]
    parts = [
        GarmentCrops.from_detections(load_image(r.image_path), [Detection(r.box, r.garment_type, 1.0)]) for r in records
    ]
    batched = aligner.align_crops(GarmentCrops.concat(parts))
    singles = [aligner.align_crops(p)[0] for p in parts]
    again = aligner.align_crops(GarmentCrops.concat(parts))
    for b, s, a in zip(batched, singles, again):
        assert np.allclose(b.points, s.points, atol=1e-3)
        assert np.array_equal(b.points, a.points)


def test_joints_are_optional_input(aligner, tiny_fld):
    record = next(r for r in landmark_records(tiny_fld) if r.joints is not None)
    image = load_image(record.image_path)
    [without] = aligner.align(image, [Detection(record.box, record.garment_type, 1.0)])
    [with_joints] = aligner.align(image, [Detection(record.box, record.garment_type, 1.0, record.joints)])
    assert without.points.shape == with_joints.points.shape
    assert not np.array_equal(without.points, with_joints.points)


def test_empty_batch_gives_nothing(aligner):
    assert aligner.align(np.zeros((10, 10, 3), np.uint8), []) == []
