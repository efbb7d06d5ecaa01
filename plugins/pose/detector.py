"""The ``pose`` detector: garment boxes from MediaPipe Pose body landmarks.

One MediaPipe ``Pose`` graph per plugin instance, created on first use (so a
worker that forks never inherits one) and guarded by a lock (a MediaPipe graph
must not run two images at once). The legacy solution finds at most one
person per photo: the most prominent one.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.contracts import Detector, PluginInfo, Role
from engine.imageio import load_image
from engine.types import Box, Detection, GarmentType

from plugins.pose.boxes import MIN_VISIBILITY, garment_boxes_from_joints, joints_from_mediapipe

#: Score of the whole-image detection returned when no garment box can be derived.
FALLBACK_SCORE = 0.1
#: Photos are downscaled to this longest side before MediaPipe sees them (its models run at 256 px anyway).
MAX_SIDE = 1024
#: MediaPipe's own threshold for finding a person at all.
MIN_DETECTION_CONFIDENCE = 0.5


def _bundled_model_path() -> str | None:
    """The landmark model inside the mediapipe wheel, found without importing mediapipe."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent / "modules" / "pose_landmark" / "pose_landmark_full.tflite")


class PoseDetector(Detector):
    """Person -> upper / lower / full garment boxes from MediaPipe Pose (``model_complexity=1``)."""

    info = PluginInfo(
        name="pose",
        version="1.0",
        role=Role.DETECTOR,
        description=(
            "Garment boxes (upper, lower, full) derived from the body joints of MediaPipe Pose "
            "(BlazePose full, model_complexity=1, bundled in the mediapipe 0.10.14 wheel, Apache-2.0). "
            "One person per photo; the whole photo when no person is found."
        ),
        input_size=256,
        weights_file=_bundled_model_path(),
        weights_sha256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        devices=("cpu", "cuda"),  # MediaPipe runs on the CPU either way; a GPU worker may still host it.
    )

    def __init__(self, device: str = "cpu", min_visibility: float = MIN_VISIBILITY) -> None:
        super().__init__(device)
        self.min_visibility = min_visibility
        self._pose: Any = None
        self._lock = threading.Lock()

    def detect_one(self, image: np.ndarray, hint: GarmentType | None = None) -> list[Detection]:
        """Garment boxes of the person in ``image`` (only of type ``hint`` when given)."""
        image = load_image(image)
        height, width = image.shape[:2]
        joints = self.find_joints(image)
        detections: list[Detection] = []
        if joints is not None:
            wanted = None if hint is None else [hint]
            detections = garment_boxes_from_joints(joints, (width, height), self.min_visibility, wanted)
        if not detections:
            whole = Box(0.0, 0.0, float(width), float(height))
            detections = [Detection(whole, hint or GarmentType.FULL, FALLBACK_SCORE, joints, type_guessed=hint is None)]
        return detections

    def find_joints(self, image: np.ndarray) -> np.ndarray | None:
        """The 14 FLD joints (14, 3: x, y in pixels of ``image``, confidence) of the person, or None."""
        image = load_image(image)
        height, width = image.shape[:2]
        small = _downscaled(image, MAX_SIDE)
        with self._lock:
            pose = self._load()
            result = pose.process(small)
        if result.pose_landmarks is None:
            return None
        landmarks = np.array(
            [(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark], dtype=np.float32
        )
        # Landmarks are normalised to the image, so they scale straight back to the original size.
        return joints_from_mediapipe(landmarks, (width, height), self.min_visibility)

    def close(self) -> None:
        """Release the MediaPipe graph (it is rebuilt on the next call)."""
        with self._lock:
            if self._pose is not None:
                self._pose.close()
                self._pose = None

    def _load(self) -> Any:
        if self._pose is None:
            import mediapipe as mp  # heavy; imported on first use only

            # Complexity 1 only: its model is in the wheel; 0 and 2 download theirs at run time.
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=False,
                min_detection_confidence=MIN_DETECTION_CONFIDENCE,
            )
        return self._pose


def _downscaled(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return np.ascontiguousarray(image)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
