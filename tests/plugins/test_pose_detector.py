"""The ``pose`` detector: the pure joints -> boxes rules, the MediaPipe mapping, and the model on a real photo."""
from __future__ import annotations

import numpy as np
import pytest

from engine.contracts import Detector, Role
from engine.types import JOINT_NAMES, GarmentType
from plugins.pose import garment_boxes_from_joints, joints_from_mediapipe

J = {name: i for i, name in enumerate(JOINT_NAMES)}

# A person facing the camera, standing in a 400 x 600 photo (their right is the image's left).
STANDING = {
    "head": (200, 60),
    "neck": (200, 120),
    "right_shoulder": (160, 125),
    "right_elbow": (145, 200),
    "right_wrist": (140, 270),
    "left_shoulder": (240, 125),
    "left_elbow": (255, 200),
    "left_wrist": (260, 270),
    "right_hip": (175, 290),
    "right_knee": (172, 410),
    "right_ankle": (170, 530),
    "left_hip": (225, 290),
    "left_knee": (228, 410),
    "left_ankle": (230, 530),
}
SIZE = (400, 600)


def _joints(confidence: float = 0.95, **overrides) -> np.ndarray:
    joints = np.zeros((14, 3), np.float32)
    for name, (x, y) in STANDING.items():
        joints[J[name]] = (x, y, confidence)
    for name, value in overrides.items():
        joints[J[name]] = value
    return joints


def _by_type(detections):
    return {d.garment_type: d for d in detections}


def _contains(box, x, y) -> bool:
    return box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1


# ----------------------------------------------------------------------------- the pure box rules


def test_whole_body_gives_upper_lower_and_full_in_order():
    detections = garment_boxes_from_joints(_joints(), SIZE)
    assert [d.garment_type for d in detections] == [GarmentType.UPPER, GarmentType.LOWER, GarmentType.FULL]
    upper, lower, full = detections
    for name in ("right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_wrist", "left_wrist"):
        assert _contains(upper.box, *STANDING[name]), name
    for name in ("right_hip", "left_hip", "right_knee", "left_knee", "right_ankle", "left_ankle"):
        assert _contains(lower.box, *STANDING[name]), name
    assert upper.box.y1 < lower.box.y1 and lower.box.y0 > upper.box.y0
    assert full.box.as_tuple() == (
        min(upper.box.x0, lower.box.x0),
        min(upper.box.y0, lower.box.y0),
        max(upper.box.x1, lower.box.x1),
        max(upper.box.y1, lower.box.y1),
    )
    for detection in detections:
        assert detection.score == pytest.approx(0.95)
        assert detection.joints.shape == (14, 3) and detection.joints.dtype == np.float32


def test_hidden_lower_body_gives_only_an_upper_box():
    hidden = {name: (*STANDING[name], 0.0) for name in ("right_knee", "left_knee", "right_ankle", "left_ankle")}
    hidden.update({name: (*STANDING[name], 0.05) for name in ("right_hip", "left_hip")})
    detections = garment_boxes_from_joints(_joints(**hidden), SIZE)
    assert [d.garment_type for d in detections] == [GarmentType.UPPER]
    upper = detections[0]
    assert _contains(upper.box, 200, 280)  # the torso estimate still reaches the waist
    assert upper.score < 0.6  # the hips' low confidence counts against it


def test_legs_outside_the_frame_give_no_lower_box():
    # A waist-up photo: MediaPipe still places the knees, confidently, below the image.
    detections = garment_boxes_from_joints(_joints(), (400, 330))
    assert [d.garment_type for d in detections] == [GarmentType.UPPER]


def test_legs_hidden_under_a_long_skirt_still_give_a_lower_box():
    occluded = {name: (*STANDING[name], 0.3) for name in ("right_knee", "left_knee", "right_ankle", "left_ankle")}
    detections = _by_type(garment_boxes_from_joints(_joints(**occluded), SIZE))
    assert set(detections) == set(GarmentType)
    assert detections[GarmentType.LOWER].box.y1 > STANDING["left_ankle"][1]
    assert detections[GarmentType.LOWER].score < detections[GarmentType.UPPER].score


def test_no_shoulders_no_upper_box():
    hidden = {name: (*STANDING[name], 0.1) for name in ("right_shoulder", "left_shoulder")}
    detections = garment_boxes_from_joints(_joints(**hidden), SIZE)
    assert [d.garment_type for d in detections] == [GarmentType.LOWER]


def test_boxes_are_clipped_to_the_image():
    joints = _joints()
    joints[:, 0] -= 150  # the person stands at the left edge, partly out of the photo
    joints[:, 1] += 60
    width, height = SIZE
    detections = garment_boxes_from_joints(joints, SIZE)
    assert detections
    for detection in detections:
        x0, y0, x1, y1 = detection.box.as_tuple()
        assert 0.0 <= x0 < x1 <= width and 0.0 <= y0 < y1 <= height
    assert min(d.box.x0 for d in detections) == 0.0


def test_side_view_upper_box_keeps_a_body_width():
    # Seen from the side the two shoulders (and hips) overlap.
    side = {"right_shoulder": (200, 125, 0.9), "left_shoulder": (204, 126, 0.9)}
    side.update({"right_hip": (198, 290, 0.9), "left_hip": (202, 290, 0.9)})
    upper = _by_type(garment_boxes_from_joints(_joints(**side), SIZE))[GarmentType.UPPER]
    assert upper.box.width >= 0.5 * (290 - 125)


def test_garment_types_filter():
    detections = garment_boxes_from_joints(_joints(), SIZE, garment_types=[GarmentType.LOWER])
    assert [d.garment_type for d in detections] == [GarmentType.LOWER]


def test_nothing_visible_gives_nothing():
    assert garment_boxes_from_joints(_joints(confidence=0.0), SIZE) == []


def test_joints_must_be_14_by_3():
    with pytest.raises(ValueError, match="14, 3"):
        garment_boxes_from_joints(np.zeros((33, 3)), SIZE)


def test_mediapipe_landmarks_map_to_fld_joints():
    rng = np.random.default_rng(0)
    landmarks = np.column_stack([rng.uniform(0, 1, 33), rng.uniform(0, 1, 33), np.full(33, 0.9)]).astype(np.float32)
    width, height = 200, 100
    joints = joints_from_mediapipe(landmarks, (width, height))
    assert joints.shape == (14, 3) and joints.dtype == np.float32
    np.testing.assert_allclose(joints[J["right_shoulder"], :2], landmarks[12, :2] * (width, height), rtol=1e-6)
    np.testing.assert_allclose(joints[J["left_ankle"], :2], landmarks[27, :2] * (width, height), rtol=1e-6)
    np.testing.assert_allclose(joints[J["head"], :2], landmarks[0, :2] * (width, height), rtol=1e-6)
    neck = (joints[J["right_shoulder"], :2] + joints[J["left_shoulder"], :2]) / 2
    np.testing.assert_allclose(joints[J["neck"], :2], neck, rtol=1e-6)

    landmarks[0, 2] = 0.1  # nose not visible: the head is the middle of the eyes and ears
    joints = joints_from_mediapipe(landmarks, (width, height))
    expected = landmarks[[2, 5, 7, 8], :2].mean(axis=0) * (width, height)
    np.testing.assert_allclose(joints[J["head"], :2], expected, rtol=1e-5)


# ----------------------------------------------------------------------------- the plugin with MediaPipe


def _load_detector():
    try:
        from engine.registry import load_plugin
    except ImportError:  # registry not there: construct directly
        from plugins.pose import PoseDetector

        return PoseDetector()
    return load_plugin("detector", "pose")


@pytest.fixture(scope="module")
def detector():
    detector = _load_detector()
    yield detector
    detector.close()


@pytest.fixture(scope="module")
def astronaut():
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def test_info_declares_a_detector(detector):
    from plugins.pose import PoseDetector

    assert isinstance(detector, PoseDetector) and isinstance(detector, Detector)
    assert detector.info.role is Role.DETECTOR
    assert detector.info.name == "pose"


def test_astronaut_gets_an_upper_box_over_her_torso(detector, astronaut):
    (detections,) = detector.detect([astronaut])
    # A waist-up portrait: a confident upper box, nothing for the legs.
    assert [d.garment_type for d in detections] == [GarmentType.UPPER]
    upper = detections[0]
    assert upper.score > 0.5
    assert upper.box.x0 <= 160 and upper.box.y0 <= 260 and upper.box.x1 >= 300 and upper.box.y1 >= 480
    assert upper.box.x1 <= 512 and upper.box.y1 <= 512
    joints = upper.joints
    assert joints.shape == (14, 3) and joints.dtype == np.float32
    assert joints[J["right_shoulder"], 0] < joints[J["left_shoulder"], 0]  # her right is the image's left
    assert joints[J["head"], 1] < joints[J["neck"], 1] < joints[J["right_hip"], 1]
    assert joints[J["right_shoulder"], 2] > 0.9


def test_hint_keeps_only_boxes_of_that_type(detector, astronaut):
    upper_only, lower_only = detector.detect([astronaut, astronaut], [GarmentType.UPPER, GarmentType.LOWER])
    assert [d.garment_type for d in upper_only] == [GarmentType.UPPER]
    # No lower body in the photo: the whole image, as a low-confidence lower garment.
    assert len(lower_only) == 1
    assert lower_only[0].garment_type is GarmentType.LOWER
    assert lower_only[0].box.as_tuple() == (0.0, 0.0, 512.0, 512.0)
    assert lower_only[0].score < 0.5


def test_no_person_falls_back_to_the_whole_image(detector):
    (detections,) = detector.detect([np.full((240, 180, 3), 200, np.uint8)])
    assert len(detections) == 1
    detection = detections[0]
    assert detection.box.as_tuple() == (0.0, 0.0, 180.0, 240.0)
    assert detection.garment_type is GarmentType.FULL
    assert detection.score < 0.5
    assert detection.joints is None


def test_same_photo_same_boxes(detector, astronaut):
    first, second = detector.detect([astronaut, astronaut.copy()])
    assert [d.box.as_tuple() for d in first] == [d.box.as_tuple() for d in second]
    np.testing.assert_array_equal(first[0].joints, second[0].joints)


def test_hints_must_match_images(detector):
    with pytest.raises(ValueError, match="hint"):
        detector.detect([np.zeros((10, 10, 3), np.uint8)], [])
