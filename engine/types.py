"""Core value types of the engine: garments, boxes, landmarks, detections, embeddings.

Everything here is plain data (dataclasses over numpy arrays) so results can
cross process boundaries and be stored as JSON. Coordinates are always pixels
of the original photo unless a name says otherwise (``*_normalised``).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The pipeline result's JSON layout version. Bump it when a field changes meaning.
SCHEMA_VERSION = 1


class GarmentType(str, enum.Enum):
    UPPER = "upper"
    LOWER = "lower"
    FULL = "full"

    @property
    def fld_code(self) -> int:
        """The clothes-type code of DeepFashion's FLD files (1 upper, 2 lower, 3 full)."""
        return _FLD_CODES[self]

    @classmethod
    def from_fld_code(cls, code: int) -> "GarmentType":
        for garment_type, value in _FLD_CODES.items():
            if value == int(code):
                return garment_type
        raise ValueError(f"unknown FLD clothes type {code!r}: expected 1 (upper), 2 (lower) or 3 (full)")

    @classmethod
    def parse(cls, value: "str | GarmentType") -> "GarmentType":
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown garment type {value!r}: expected one of {names}") from None


_FLD_CODES = {GarmentType.UPPER: 1, GarmentType.LOWER: 2, GarmentType.FULL: 3}
#: Garment types in a fixed order: the index networks use for them.
GARMENT_TYPES: tuple[GarmentType, ...] = (GarmentType.UPPER, GarmentType.LOWER, GarmentType.FULL)


class Visibility(enum.IntEnum):
    """Per-slot visibility, numbered as FLD codes it (0 visible, 1 occluded, 2 absent)."""

    VISIBLE = 0
    OCCLUDED = 1
    ABSENT = 2


#: The eight landmark slots, in the order every array in the engine uses.
LANDMARK_SLOTS: tuple[str, ...] = (
    "left_collar",
    "right_collar",
    "left_sleeve",
    "right_sleeve",
    "left_waistline",
    "right_waistline",
    "left_hem",
    "right_hem",
)
NUM_SLOTS = len(LANDMARK_SLOTS)
SLOT_INDEX = {name: i for i, name in enumerate(LANDMARK_SLOTS)}

#: Which slots each garment type has, in the order FLD writes its columns.
SLOTS_BY_TYPE: dict[GarmentType, tuple[str, ...]] = {
    GarmentType.UPPER: ("left_collar", "right_collar", "left_sleeve", "right_sleeve", "left_hem", "right_hem"),
    GarmentType.LOWER: ("left_waistline", "right_waistline", "left_hem", "right_hem"),
    GarmentType.FULL: LANDMARK_SLOTS,
}


def slot_mask(garment_type: GarmentType) -> np.ndarray:
    """Boolean (8,) mask of the slots this garment type has."""
    mask = np.zeros(NUM_SLOTS, dtype=bool)
    for name in SLOTS_BY_TYPE[garment_type]:
        mask[SLOT_INDEX[name]] = True
    return mask


#: The 14 body joints of FLD's list_joints.txt, in its order. Detections may carry them.
JOINT_NAMES: tuple[str, ...] = (
    "head",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
)


def _mirrored(names: tuple[str, ...]) -> tuple[int, ...]:
    swap = {"left": "right", "right": "left"}
    return tuple(names.index("_".join(swap.get(part, part) for part in name.split("_"))) for name in names)


#: Slot i <-> MIRROR_SLOTS[i] (left and right are the image's sides): for mirrored images and left/right pairs.
MIRROR_SLOTS = _mirrored(LANDMARK_SLOTS)
MIRROR_JOINTS = _mirrored(JOINT_NAMES)
NUM_JOINTS = len(JOINT_NAMES)


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels: x0, y0 inclusive top-left, x1, y1 bottom-right."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"empty box {self.as_tuple()}: x1 must exceed x0 and y1 exceed y0")

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    def clip(self, width: int, height: int) -> "Box":
        return Box(max(0.0, self.x0), max(0.0, self.y0), min(float(width), self.x1), min(float(height), self.y1))

    def expand(self, factor: float) -> "Box":
        """Grow the box about its centre by ``factor`` of its size on each axis."""
        dx, dy = self.width * factor / 2, self.height * factor / 2
        return Box(self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy)


@dataclass
class Landmarks:
    """The eight slots of one garment: points (8, 2) in image pixels and visibility (8,).

    Slots a garment type does not have are ABSENT; their points are meaningless.
    ``stage_points`` optionally keeps each cascade stage's estimate (S, 8, 2).
    """

    points: np.ndarray
    visibility: np.ndarray
    visibility_scores: np.ndarray | None = None
    stage_points: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float32).reshape(NUM_SLOTS, 2)
        self.visibility = np.asarray(self.visibility, dtype=np.int64).reshape(NUM_SLOTS)

    def visible_mask(self) -> np.ndarray:
        return self.visibility == Visibility.VISIBLE

    def to_dict(self) -> dict[str, Any]:
        slots = {}
        for i, name in enumerate(LANDMARK_SLOTS):
            entry = {
                "x": round(float(self.points[i, 0]), 2),
                "y": round(float(self.points[i, 1]), 2),
                "visibility": Visibility(int(self.visibility[i])).name.lower(),
            }
            if self.visibility_scores is not None:
                entry["visibility_scores"] = [round(float(s), 4) for s in self.visibility_scores[i]]
            slots[name] = entry
        return slots

    @classmethod
    def from_dict(cls, slots: dict[str, Any]) -> "Landmarks":
        points = np.zeros((NUM_SLOTS, 2), np.float32)
        visibility = np.full(NUM_SLOTS, Visibility.ABSENT, np.int64)
        for name, entry in slots.items():
            i = SLOT_INDEX[name]
            points[i] = (entry["x"], entry["y"])
            visibility[i] = Visibility[entry["visibility"].upper()]
        return cls(points, visibility)


@dataclass
class Detection:
    """One garment found in a photo. ``joints`` (14, 3: x, y, confidence) when the detector has them."""

    box: Box
    garment_type: GarmentType
    score: float
    joints: np.ndarray | None = None
    #: The detector could not tell the type (e.g. the whole image when no person is found);
    #: the pipeline then takes the type the extractor sees in the crop.
    type_guessed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": [round(v, 2) for v in self.box.as_tuple()],
            "garment_type": self.garment_type.value,
            "score": round(float(self.score), 4),
        }
        if self.type_guessed:
            out["type_guessed"] = True
        if self.joints is not None:
            out["joints"] = np.round(self.joints, 2).tolist()
        return out


@dataclass
class Embedding:
    """An L2-normalised float32 descriptor plus the extractor's optional predictions."""

    vector: np.ndarray
    model: str
    category: str | None = None
    category_scores: dict[str, float] = field(default_factory=dict)
    attributes: dict[str, float] = field(default_factory=dict)  # the likely ones, for users
    #: Every attribute's probability (evaluation ranks them: top-k recall); not in to_dict.
    attribute_scores: dict[str, float] = field(default_factory=dict)
    #: How likely the crop shows each garment type ("upper"/"lower"/"full"), when the extractor knows.
    garment_type_scores: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vector = np.asarray(self.vector, dtype=np.float32).reshape(-1)

    def to_dict(self, include_vector: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "dim": int(self.vector.shape[0]),
            "category": self.category,
            "category_scores": {k: round(v, 4) for k, v in self.category_scores.items()},
            "attributes": {k: round(v, 4) for k, v in self.attributes.items()},
            "garment_type_scores": {k: round(v, 4) for k, v in self.garment_type_scores.items()},
        }
        if include_vector:
            out["vector"] = [round(float(v), 6) for v in self.vector]
        return out


@dataclass
class Garment:
    """Everything the pipeline knows about one garment of a photo."""

    detection: Detection
    landmarks: Landmarks | None = None
    embedding: Embedding | None = None

    def to_dict(self, include_vector: bool = True) -> dict[str, Any]:
        return {
            **self.detection.to_dict(),
            "landmarks": self.landmarks.to_dict() if self.landmarks is not None else None,
            "embedding": self.embedding.to_dict(include_vector) if self.embedding is not None else None,
        }


@dataclass
class PipelineResult:
    """The pipeline's answer for one photo; ``to_dict`` is JSON-serialisable."""

    image_size: tuple[int, int]  # (width, height)
    garments: list[Garment]
    plugins: dict[str, str]  # role -> "name@version"
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, include_vectors: bool = True) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "image": {"width": self.image_size[0], "height": self.image_size[1]},
            "plugins": dict(self.plugins),
            "garments": [g.to_dict(include_vectors) for g in self.garments],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
