"""A set of garment crops with landmark labels and their cached backbone features."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np
import torch

from engine.training.features import FeatureMaps, encode_canvases, select
from engine.training.samples import Augmentation, Sample, noisy_joints, record_samples
from engine.types import Box, GarmentType


class LandmarkLabel(Protocol):
    """What a reader's record must offer (engine.data.deepfashion.LandmarkRecord does)."""

    image_path: object
    garment_type: GarmentType
    points: np.ndarray
    visibility: np.ndarray
    box: Box | None
    joints: np.ndarray | None


@dataclass
class LandmarkSet:
    features: FeatureMaps
    points: torch.Tensor  # (N, 8, 2) normalised canvas coordinates
    visibility: torch.Tensor  # (N, 8)
    garment_types: torch.Tensor  # (N,)
    joints: torch.Tensor  # (N, 14, 3) normalised, zeros when unknown
    box_sizes: torch.Tensor  # (N, 2) crop box width, height in photo pixels
    edges: torch.Tensor  # (N, 4) the photo sides each crop reaches

    def __len__(self) -> int:
        return len(self.points)

    @classmethod
    def concat(cls, sets: Sequence["LandmarkSet"]) -> "LandmarkSet":
        if len(sets) == 1:
            return sets[0]
        return cls(
            features={k: torch.cat([s.features[k] for s in sets]) for k in sets[0].features},
            points=torch.cat([s.points for s in sets]),
            visibility=torch.cat([s.visibility for s in sets]),
            garment_types=torch.cat([s.garment_types for s in sets]),
            joints=torch.cat([s.joints for s in sets]),
            box_sizes=torch.cat([s.box_sizes for s in sets]),
            edges=torch.cat([s.edges for s in sets]),
        )

    def batch(self, index, device: str = "cpu") -> dict:
        return {
            "features": select(self.features, index, device),
            "points": self.points[index].to(device),
            "visibility": self.visibility[index].to(device),
            "garment_types": self.garment_types[index].to(device),
            "joints": self.joints[index].to(device),
            "box_sizes": self.box_sizes[index].to(device),
            "edges": self.edges[index].to(device),
        }


def build_landmark_set(
    records: Sequence[LandmarkLabel],
    copies: int = 1,
    augmentation: Augmentation | None = None,
    seed: int = 0,
    joint_noise: bool = False,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "crops",
) -> LandmarkSet:
    """Crop every record ``copies`` times (augmented when given) and encode the crops once."""
    rng = np.random.default_rng(seed)
    samples = list(_samples(records, copies, augmentation, rng, joint_noise, progress, desc))
    if not samples:
        raise ValueError(f"no usable {desc}: the data set has no labelled garments")
    canvases = np.stack([s.canvas for s in samples])
    features = encode_canvases(canvases, device=device, dtype=torch.float16, progress=progress)
    return LandmarkSet(
        features=features,
        points=torch.from_numpy(np.stack([s.points for s in samples])),
        visibility=torch.from_numpy(np.stack([s.visibility for s in samples])),
        garment_types=torch.tensor([s.garment_type for s in samples]),
        joints=torch.from_numpy(np.stack([s.joints for s in samples]).astype(np.float32)),
        box_sizes=torch.tensor([[s.box.width, s.box.height] for s in samples], dtype=torch.float32),
        edges=torch.from_numpy(np.stack([s.edges for s in samples]).astype(np.float32)),
    )


def _samples(records, copies, augmentation, rng, joint_noise, progress, desc) -> Iterable[Sample]:
    for _, sample in record_samples(records, copies, augmentation, rng, progress=progress, desc=desc):
        if joint_noise:
            sample.joints = noisy_joints(sample.joints, rng)
        yield sample


def normalised_errors(predicted: torch.Tensor, target: torch.Tensor, box_sizes: torch.Tensor) -> torch.Tensor:
    """Per-slot NE (N, 8): canvas-normalised differences rescaled to the crop box's width and height.

    On the letterboxed canvas one unit is the box's longer side, so a difference
    d becomes d * long_side / side along each axis (DFA normalises by the crop's
    own width and height).
    """
    long_side = box_sizes.max(dim=1, keepdim=True).values
    scale = (long_side / box_sizes)[:, None, :]
    return ((predicted - target) * scale).norm(dim=-1)
