"""Garment boxes from body joints: pure geometry, no model.

``garment_boxes_from_joints`` turns the 14 FLD body joints of one person
(``engine.types.JOINT_NAMES`` order, x and y in image pixels, confidence
0..1) into ``upper``, ``lower`` and ``full`` garment detections.
``joints_from_mediapipe`` maps MediaPipe Pose's 33 landmarks onto those 14
joints. Both are plain functions of arrays, so they are tested without the
model.

A joint is *usable* when its confidence is at least ``min_visibility`` and it
lies in the image (give or take ``IN_FRAME_TOLERANCE`` of the image size); a
knee or ankle is *located* when it lies in the image with confidence of at
least ``OCCLUDED_VISIBILITY`` (legs hidden under a long skirt or gown get low
visibility but MediaPipe still places them well; legs cut off by the frame
fall outside the image). The rules, with ``bw`` the body width (the shoulder
width, or for side views half the torso length or 0.8 of an upper arm when
larger) and ``thigh`` the hip-to-knee length:

- upper: needs both shoulders usable. From the shoulders down to the hips
  (the estimate ``shoulders + TORSO_PER_SHOULDER * shoulder width`` when the
  hips are not usable, e.g. a waist-up photo), at least ``bw`` wide about the
  shoulders' midpoint, widened to every usable elbow and wrist (sleeves),
  padded ``0.25 bw`` at the sides and top (collar, deltoids) and ``0.15`` of
  the torso length below the hips (hems hang below the hip joints).
  Score: mean confidence of shoulders and hips.
- lower: needs a usable hip and a located knee. From ``0.4 thigh`` above the
  hips (the waistline sits above the hip joints) down to the lowest located
  ankle plus ``0.1 thigh``, or to ``0.6 thigh`` below the knees when no ankle
  is located; widened by ``0.75`` of the hip width at the sides (hip joints
  lie inside the pelvis; skirts flare). Score: mean confidence of hips, knees,
  and the ankles when they set the bottom.
- full: needs both upper and lower; their union (shoulders to knees/ankles).
  Score: mean confidence of shoulders, hips, knees (and ankles when used).

Every box is clipped to the image and dropped if that leaves less than
``MIN_BOX_SIDE`` pixels on a side.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.types import JOINT_NAMES, NUM_JOINTS, Box, Detection, GarmentType

#: Least confidence (MediaPipe visibility) for a joint to define a box.
MIN_VISIBILITY = 0.5
#: Least confidence for a knee or ankle in the frame but hidden (under a long skirt) to still shape the lower box.
OCCLUDED_VISIBILITY = 0.15
#: How far outside the image (fraction of its width/height) a joint may lie and still count as in frame.
IN_FRAME_TOLERANCE = 0.02
#: Torso length (shoulders to hips) per shoulder width, used when the hips are not usable.
TORSO_PER_SHOULDER = 1.4
#: Boxes smaller than this (pixels, either side) after clipping are dropped.
MIN_BOX_SIDE = 8.0

_J = {name: i for i, name in enumerate(JOINT_NAMES)}
HEAD, NECK = _J["head"], _J["neck"]
R_SHOULDER, R_ELBOW, R_WRIST = _J["right_shoulder"], _J["right_elbow"], _J["right_wrist"]
L_SHOULDER, L_ELBOW, L_WRIST = _J["left_shoulder"], _J["left_elbow"], _J["left_wrist"]
R_HIP, R_KNEE, R_ANKLE = _J["right_hip"], _J["right_knee"], _J["right_ankle"]
L_HIP, L_KNEE, L_ANKLE = _J["left_hip"], _J["left_knee"], _J["left_ankle"]
SHOULDERS, HIPS, KNEES, ANKLES = (R_SHOULDER, L_SHOULDER), (R_HIP, L_HIP), (R_KNEE, L_KNEE), (R_ANKLE, L_ANKLE)
ARMS = (R_ELBOW, R_WRIST, L_ELBOW, L_WRIST)

# MediaPipe Pose landmark indices (mp.solutions.pose.PoseLandmark), kept here so this module needs no mediapipe.
MP_NOSE, MP_LEFT_EYE, MP_RIGHT_EYE, MP_LEFT_EAR, MP_RIGHT_EAR = 0, 2, 5, 7, 8
MP_NUM_LANDMARKS = 33
#: FLD joint -> MediaPipe landmark, for the joints that map one to one ("right" is the person's right).
MP_INDEX_BY_JOINT = {
    "right_shoulder": 12,
    "right_elbow": 14,
    "right_wrist": 16,
    "left_shoulder": 11,
    "left_elbow": 13,
    "left_wrist": 15,
    "right_hip": 24,
    "right_knee": 26,
    "right_ankle": 28,
    "left_hip": 23,
    "left_knee": 25,
    "left_ankle": 27,
}


def garment_boxes_from_joints(
    joints: np.ndarray,
    image_size: tuple[int, int],
    min_visibility: float = MIN_VISIBILITY,
    garment_types: Sequence[GarmentType] | None = None,
) -> list[Detection]:
    """Upper, lower and full boxes (in that order, each only when derivable) for one person.

    ``joints``: (14, 3) x, y in pixels and confidence, ``JOINT_NAMES`` order.
    ``image_size``: (width, height). ``garment_types`` limits which boxes are returned.
    Each detection carries a copy of ``joints`` (float32).
    """
    joints = _as_joints(joints)
    width, height = int(image_size[0]), int(image_size[1])
    usable = usable_joints(joints, (width, height), min_visibility)
    located = usable_joints(joints, (width, height), min(min_visibility, OCCLUDED_VISIBILITY))
    wanted = set(GarmentType) if garment_types is None else set(garment_types)

    upper = _upper_extent(joints, usable)
    lower = _lower_extent(joints, located, usable)
    full = None
    if upper is not None and lower is not None:
        extent = (min(upper[0][0], lower[0][0]), min(upper[0][1], lower[0][1]),
                  max(upper[0][2], lower[0][2]), max(upper[0][3], lower[0][3]))  # fmt: skip
        defining = tuple(dict.fromkeys(upper[1] + lower[1]))
        full = (extent, defining)

    detections = []
    for garment_type, found in ((GarmentType.UPPER, upper), (GarmentType.LOWER, lower), (GarmentType.FULL, full)):
        if found is None or garment_type not in wanted:
            continue
        box = _clipped_box(found[0], width, height)
        if box is None:
            continue
        score = float(np.clip(joints[list(found[1]), 2], 0.0, 1.0).mean())
        detections.append(Detection(box, garment_type, score, joints.copy()))
    return detections


def usable_joints(
    joints: np.ndarray, image_size: tuple[int, int], min_visibility: float = MIN_VISIBILITY
) -> np.ndarray:
    """Boolean (14,): confident enough and inside the image (within the tolerance)."""
    joints = _as_joints(joints)
    width, height = image_size
    x, y, confidence = joints[:, 0], joints[:, 1], joints[:, 2]
    tol_x, tol_y = IN_FRAME_TOLERANCE * width, IN_FRAME_TOLERANCE * height
    in_frame = (x >= -tol_x) & (x <= width + tol_x) & (y >= -tol_y) & (y <= height + tol_y)
    return np.isfinite(joints).all(axis=1) & in_frame & (confidence >= min_visibility)


def joints_from_mediapipe(
    landmarks: np.ndarray, image_size: tuple[int, int], min_visibility: float = MIN_VISIBILITY
) -> np.ndarray:
    """MediaPipe Pose's 33 landmarks -> the 14 FLD joints, (14, 3) float32.

    ``landmarks``: (33, 3) x, y normalised to the image (0..1) and visibility.
    head = the nose, or the mean of the visible eyes and ears when the nose is
    not visible; neck = the midpoint of the shoulders, with the lower of their
    two confidences.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.shape != (MP_NUM_LANDMARKS, 3):
        raise ValueError(f"expected MediaPipe landmarks of shape (33, 3), got {landmarks.shape}")
    width, height = image_size
    points = landmarks[:, :2] * np.array([width, height], np.float32)
    visibility = np.clip(landmarks[:, 2], 0.0, 1.0)

    joints = np.zeros((NUM_JOINTS, 3), np.float32)
    for name, index in MP_INDEX_BY_JOINT.items():
        joints[_J[name]] = (points[index, 0], points[index, 1], visibility[index])

    face = [MP_LEFT_EYE, MP_RIGHT_EYE, MP_LEFT_EAR, MP_RIGHT_EAR]
    visible_face = [i for i in face if visibility[i] >= min_visibility]
    if visibility[MP_NOSE] >= min_visibility or not visible_face:
        joints[HEAD] = (points[MP_NOSE, 0], points[MP_NOSE, 1], visibility[MP_NOSE])
    else:
        joints[HEAD, :2] = points[visible_face].mean(axis=0)
        joints[HEAD, 2] = visibility[visible_face].mean()
    joints[NECK, :2] = (joints[R_SHOULDER, :2] + joints[L_SHOULDER, :2]) / 2
    joints[NECK, 2] = min(joints[R_SHOULDER, 2], joints[L_SHOULDER, 2])
    return joints


# --- helpers -----------------------------------------------------------------------------------------------

Extent = tuple[float, float, float, float]


def _upper_extent(joints: np.ndarray, usable: np.ndarray) -> tuple[Extent, tuple[int, ...]] | None:
    if not usable[list(SHOULDERS)].all():
        return None
    shoulders = joints[list(SHOULDERS), :2]
    shoulder_width = float(np.linalg.norm(shoulders[0] - shoulders[1]))
    shoulder_x, shoulder_y = (float(v) for v in shoulders.mean(axis=0))
    hips = [i for i in HIPS if usable[i]]
    if hips:
        hip_y = float(joints[hips, 1].max())
    else:
        hip_y = shoulder_y + TORSO_PER_SHOULDER * shoulder_width
    torso = hip_y - shoulder_y
    body_width = _body_width(joints, usable, shoulder_width, torso if hips else 0.0)
    torso = max(torso, 0.5 * body_width)

    points = joints[[i for i in SHOULDERS + tuple(hips) + ARMS if usable[i]], :2]
    half = 0.5 * body_width  # a side view's shoulders overlap: the torso is still this wide
    x0, x1 = min(float(points[:, 0].min()), shoulder_x - half), max(float(points[:, 0].max()), shoulder_x + half)
    y0, y1 = float(points[:, 1].min()), max(float(points[:, 1].max()), hip_y)
    pad = 0.25 * body_width
    return (x0 - pad, y0 - pad, x1 + pad, y1 + 0.15 * torso), SHOULDERS + HIPS


def _lower_extent(
    joints: np.ndarray, located: np.ndarray, usable: np.ndarray
) -> tuple[Extent, tuple[int, ...]] | None:
    hips = [i for i in HIPS if usable[i]]
    knees = [i for i in KNEES if located[i]]
    if not hips or not knees:
        return None
    ankles = [i for i in ANKLES if located[i]]
    hip_point = joints[hips, :2].mean(axis=0)
    knee_point = joints[knees, :2].mean(axis=0)
    thigh = max(float(np.linalg.norm(knee_point - hip_point)), 1.0)
    hip_width = float(np.linalg.norm(joints[R_HIP, :2] - joints[L_HIP, :2])) if len(hips) == 2 else 0.0
    hip_width = max(hip_width, 0.5 * thigh)  # side views: hip joints overlap

    used = hips + knees + ankles
    top = float(joints[hips, 1].min()) - 0.4 * thigh
    if ankles:
        bottom = float(joints[ankles, 1].max()) + 0.1 * thigh
        defining = HIPS + KNEES + ANKLES
    else:
        bottom = float(joints[knees, 1].max()) + 0.6 * thigh
        defining = HIPS + KNEES
    bottom = max(bottom, float(joints[used, 1].max()))
    pad = 0.75 * hip_width
    return (float(joints[used, 0].min()) - pad, top, float(joints[used, 0].max()) + pad, bottom), defining


def _body_width(joints: np.ndarray, usable: np.ndarray, shoulder_width: float, torso: float) -> float:
    """The torso's width seen from the front, robust to side views (where the shoulders overlap)."""
    upper_arms = [
        float(np.linalg.norm(joints[elbow, :2] - joints[shoulder, :2]))
        for shoulder, elbow in ((R_SHOULDER, R_ELBOW), (L_SHOULDER, L_ELBOW))
        if usable[elbow]
    ]
    return max(shoulder_width, 0.5 * torso, 0.8 * max(upper_arms, default=0.0), 1.0)


def _clipped_box(extent: Extent, width: int, height: int) -> Box | None:
    x0, y0 = max(0.0, extent[0]), max(0.0, extent[1])
    x1, y1 = min(float(width), extent[2]), min(float(height), extent[3])
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        return None
    return Box(x0, y0, x1, y1)


def _as_joints(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float32)
    if joints.shape != (NUM_JOINTS, 3):
        raise ValueError(f"expected joints of shape ({NUM_JOINTS}, 3) in JOINT_NAMES order, got {joints.shape}")
    return joints
