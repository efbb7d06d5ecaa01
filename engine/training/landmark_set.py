"""A set of garment crops with landmark labels and their cached backbone features."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np
import torch

from engine.batches import batches
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


@dataclass
class LandmarkSource:
    """One labelled data set of a training run, cropped ``copies`` times (each time freshly augmented)."""

    records: Sequence[LandmarkLabel]
    copies: int = 1
    seed: int = 0
    desc: str = "crops"


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
    return build_combined_set([LandmarkSource(records, copies, seed, desc)], augmentation, joint_noise, device, progress)


def build_combined_set(
    sources: Sequence[LandmarkSource],
    augmentation: Augmentation | None = None,
    joint_noise: bool = False,
    device: str = "cpu",
    progress: bool = True,
    chunk_size: int = 512,
) -> LandmarkSet:
    """All sources' crops in one set, encoded a chunk at a time straight into preallocated maps.

    The cached features are what bound the training set's size (about 0.3 MB a crop in float16),
    so they are held once: no stack of every canvas beside them, no concatenation that copies them.
    """
    capacity = sum(len(source.records) * source.copies for source in sources)
    samples = itertools.chain.from_iterable(
        _samples(source.records, source.copies, augmentation, np.random.default_rng(source.seed), joint_noise,
                 progress, source.desc)
        for source in sources
    )
    features: FeatureMaps = {}
    labels: list[tuple] = []  # each sample without its canvas
    for chunk in batches(samples, chunk_size):
        maps = encode_canvases(np.stack([s.canvas for s in chunk]), device=device, dtype=torch.float16)
        if not features:
            features = {name: torch.empty((capacity, *value.shape[1:]), dtype=value.dtype) for name, value in maps.items()}
        for name, value in maps.items():
            features[name][len(labels) : len(labels) + len(chunk)] = value
        labels += [(s.points, s.visibility, s.garment_type, s.joints, (s.box.width, s.box.height), s.edges) for s in chunk]
    if not labels:
        raise ValueError(f"no usable {', '.join(s.desc for s in sources)}: the data set has no labelled garments")
    points, visibility, garment_types, joints, box_sizes, edges = zip(*labels)
    return LandmarkSet(
        features={name: value[: len(labels)] for name, value in features.items()},
        points=torch.from_numpy(np.stack(points)),
        visibility=torch.from_numpy(np.stack(visibility)),
        garment_types=torch.tensor(garment_types),
        joints=torch.from_numpy(np.stack(joints).astype(np.float32)),
        box_sizes=torch.tensor(box_sizes, dtype=torch.float32),
        edges=torch.from_numpy(np.stack(edges).astype(np.float32)),
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
