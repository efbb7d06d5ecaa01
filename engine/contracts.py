"""The three plugin roles and what each plugin declares about itself.

A plugin is a class with a class attribute ``info`` (``PluginInfo``) and the
batched method of its role. Plugins are constructed with ``device`` ("cpu" or
"cuda") and load their weights in ``__init__``; a plugin instance is then
reused for many calls (a worker loads it once).

Aligners and extractors work on ``GarmentCrops``: each detection's box cut
from its photo and letterboxed to the plugin's input size. Plugins that
declare the same ``backbone`` can share its features: the pipeline computes
them once per crop (``compute_features``) and hands them to both.
"""
from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
from PIL import Image

from engine.geometry import CANVAS_SIZE, Letterbox, letterbox, photo_edges
from engine.types import Detection, Embedding, GarmentType, Landmarks


class Role(str, enum.Enum):
    DETECTOR = "detector"
    ALIGNER = "aligner"
    EXTRACTOR = "extractor"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    role: Role
    description: str = ""
    input_size: int | None = None
    embedding_dim: int | None = None  # extractors
    metric: str | None = None  # extractors: "cosine" or "l2"
    weights_file: str | None = None  # path to the weights, absolute or relative to the plugin's package
    weights_sha256: str | None = None
    devices: tuple[str, ...] = ("cpu",)
    backbone: str | None = None  # id of a feature extractor shared with other plugins
    weights_help: str | None = None  # how a user gets missing weights (default: reinstall or retrain)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "role": self.role.value,
            "description": self.description,
            "input_size": self.input_size,
            "embedding_dim": self.embedding_dim,
            "metric": self.metric,
            "weights_file": self.weights_file,
            "weights_sha256": self.weights_sha256,
            "devices": list(self.devices),
            "backbone": self.backbone,
        }


@dataclass
class GarmentCrops:
    """A batch of letterboxed garment crops: canvases (N, S, S, 3) uint8 plus their mappings."""

    canvases: np.ndarray
    letterboxes: list[Letterbox]
    detections: list[Detection]
    photo_edges: np.ndarray | None = None  # (N, 4): the photo sides each box reaches (geometry.photo_edges)
    # The photo each crop was cut from (shared, not copied): for plugins with their own pre-processing
    # (dfa_vgg16 cuts and resizes exactly as the DFA authors did).
    photos: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.letterboxes)

    @classmethod
    def from_detections(
        cls, image: np.ndarray, detections: Sequence[Detection], size: int = CANVAS_SIZE
    ) -> "GarmentCrops":
        canvases, letterboxes = [], []
        height, width = image.shape[:2]
        for detection in detections:
            canvas, transform = letterbox(image, detection.box, size)
            canvases.append(canvas)
            letterboxes.append(transform)
        stacked = np.stack(canvases) if canvases else np.zeros((0, size, size, 3), np.uint8)
        edges = np.stack([photo_edges(d.box, width, height) for d in detections]) if detections else np.zeros((0, 4), np.float32)
        return cls(stacked, letterboxes, list(detections), edges, [image] * len(detections))

    @classmethod
    def concat(cls, parts: Sequence["GarmentCrops"]) -> "GarmentCrops":
        edges = photos = None
        if parts and all(p.photo_edges is not None for p in parts):
            edges = np.concatenate([p.photo_edges for p in parts])
        if parts and all(p.photos is not None for p in parts):
            photos = [photo for p in parts for photo in p.photos]
        return cls(
            np.concatenate([p.canvases for p in parts]),
            [t for p in parts for t in p.letterboxes],
            [d for p in parts for d in p.detections],
            edges,
            photos,
        )

    @property
    def size(self) -> int:
        return int(self.canvases.shape[1])

    def resized(self, size: int) -> "GarmentCrops":
        """The same crops on a ``size`` canvas (a plugin with another input size)."""
        factor = size / self.size
        canvases = np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.BILINEAR)) for c in self.canvases])
        letterboxes = [
            Letterbox(t.box, t.scale * factor, t.offset_x * factor, t.offset_y * factor, size) for t in self.letterboxes
        ]
        return GarmentCrops(canvases.reshape(len(self), size, size, 3), letterboxes, list(self.detections),
                            self.photo_edges, self.photos)

    @property
    def garment_types(self) -> list[GarmentType]:
        return [d.garment_type for d in self.detections]


class Plugin(abc.ABC):
    info: ClassVar[PluginInfo]
    #: The number format of the plugin's inference layers, as evaluations report it: "float32" unless
    #: the plugin says otherwise (the built-in heads run their widest layers in "int8" on the CPU).
    precision: str = "float32"

    def __init__(self, device: str = "cpu") -> None:
        if device.split(":")[0] not in self.info.devices:
            supported = ", ".join(self.info.devices)
            raise ValueError(f"plugin {self.info.key} runs on {supported}, not on {device!r}")
        self.device = device


class Detector(Plugin):
    """Photo -> garments. ``hints`` may name the garment type per photo (shop photos, flat-lays)."""

    def detect(
        self, images: Sequence[np.ndarray], hints: Sequence[GarmentType | str | None] | None = None
    ) -> list[list[Detection]]:
        """The batched entry point; by default one ``detect_one`` per photo (override for a batched model)."""
        if hints is not None and len(hints) != len(images):
            raise ValueError(f"got {len(hints)} hints for {len(images)} images: give one hint (or None) per image")
        hints = hints if hints is not None else [None] * len(images)
        return [
            self.detect_one(image, GarmentType.parse(hint) if hint is not None else None)
            for image, hint in zip(images, hints)
        ]

    @abc.abstractmethod
    def detect_one(self, image: np.ndarray, hint: GarmentType | None = None) -> list[Detection]:
        """The garments of one photo (only of type ``hint`` when given)."""


class _CropPlugin(Plugin):
    """Shared by aligners and extractors: crops, and optionally shared backbone features."""

    def make_crops(self, image: np.ndarray, detections: Sequence[Detection]) -> GarmentCrops:
        return GarmentCrops.from_detections(image, detections, self.info.input_size or CANVAS_SIZE)

    def compute_features(self, crops: GarmentCrops) -> Any:
        """Backbone features for ``crops``; only plugins that declare ``info.backbone`` implement it."""
        raise NotImplementedError(f"{self.info.key} declares no shared backbone")


class Aligner(_CropPlugin):
    @abc.abstractmethod
    def align_crops(self, crops: GarmentCrops, features: Any = None) -> list[Landmarks]:
        """Landmarks per crop, in the original photo's pixels."""

    def align(self, image: np.ndarray, detections: Sequence[Detection]) -> list[Landmarks]:
        return self.align_crops(self.make_crops(image, detections))


class Extractor(_CropPlugin):
    @abc.abstractmethod
    def extract_crops(
        self, crops: GarmentCrops, landmarks: Sequence[Landmarks], features: Any = None
    ) -> list[Embedding]:
        """One L2-normalised embedding (``info.embedding_dim``) per crop."""

    def extract(
        self, image: np.ndarray, detections: Sequence[Detection], landmarks: Sequence[Landmarks]
    ) -> list[Embedding]:
        return self.extract_crops(self.make_crops(image, detections), landmarks)


ROLE_BASES: dict[Role, type[Plugin]] = {Role.DETECTOR: Detector, Role.ALIGNER: Aligner, Role.EXTRACTOR: Extractor}


@dataclass
class PluginSelection:
    """Which plugin serves each role (names, resolved by the registry)."""

    detector: str = "pose"
    aligner: str = "cascade_cnn"
    extractor: str = "fashionnet"
