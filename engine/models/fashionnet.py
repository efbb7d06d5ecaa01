"""FashionNet-style embedding network (Liu et al., "DeepFashion", CVPR 2016).

Two branches on the shared frozen backbone features:
- global: the stride-32 map, reduced and pooled (mean and max) over the crop;
- landmark pooling: for every visible landmark, features sampled in a small
  window around it on the stride-8 and stride-16 maps; slots that are absent
  or occluded are masked out, so the descriptor describes the garment where
  it really shows.
The two are fused into a 256-d L2-normalised embedding; category and attribute
heads read the fused features (their predictions are returned to users and
their losses regularise the embedding).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.cascade import NUM_GARMENT_TYPES, sample_projected
from engine.models.efficientnet_lite import FEATURE_CHANNELS
from engine.types import NUM_SLOTS


@dataclass
class FashionNetConfig:
    embedding_dim: int = 256
    num_categories: int = 6
    num_attributes: int = 18
    global_dim: int = 512
    landmark_channels: int = 64
    landmark_dim: int = 512
    pool_radius: float = 0.05
    pool_grid: int = 3
    # The category head reads the global branch only: what the crop shows, not the garment type the
    # detector guessed nor the landmark pattern the aligner drew for it (which would echo that guess).
    category_from_pixels: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FashionNetOutput:
    embedding: torch.Tensor  # (N, D), L2-normalised
    category_logits: torch.Tensor  # (N, C)
    attribute_logits: torch.Tensor  # (N, A)


class GlobalBranch(nn.Module):
    def __init__(self, config: FashionNetConfig) -> None:
        super().__init__()
        self.reduce = nn.Sequential(
            nn.Conv2d(FEATURE_CHANNELS["s32"], config.global_dim, 1, bias=False),
            nn.BatchNorm2d(config.global_dim),
            nn.ReLU(inplace=True),
        )
        # Colour and texture live in the shallower maps too: pool the stride-16 map as well.
        self.reduce_s16 = nn.Sequential(
            nn.Conv2d(FEATURE_CHANNELS["s16"], config.global_dim // 2, 1, bias=False),
            nn.BatchNorm2d(config.global_dim // 2),
            nn.ReLU(inplace=True),
        )
        self.out_dim = 2 * config.global_dim + config.global_dim

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.reduce(features["s32"])
        y = self.reduce_s16(features["s16"])
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), y.mean(dim=(2, 3)), y.amax(dim=(2, 3))], dim=1)


class LandmarkPoolingBranch(nn.Module):
    def __init__(self, config: FashionNetConfig) -> None:
        super().__init__()
        c = config.landmark_channels
        self.radius = config.pool_radius
        self.grid = config.pool_grid
        self.reduce_s8 = nn.Conv2d(FEATURE_CHANNELS["s8"], c, 1)
        self.reduce_s16 = nn.Conv2d(FEATURE_CHANNELS["s16"], c, 1)
        self.fc = nn.Sequential(
            nn.Linear(NUM_SLOTS * 2 * c, config.landmark_dim), nn.ReLU(inplace=True)
        )
        self.out_dim = config.landmark_dim

    def forward(self, features: dict[str, torch.Tensor], points: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        n = points.shape[0]
        pooled = []
        for name, reduce in (("s8", self.reduce_s8), ("s16", self.reduce_s16)):
            samples = sample_projected(features[name], reduce, points, self.radius, self.grid)
            samples = samples.view(n, NUM_SLOTS, -1, self.grid * self.grid)
            pooled.append(samples.amax(dim=-1))  # max-pool the window, as FashionNet's landmark pooling does
        per_slot = torch.cat(pooled, dim=-1) * visible[..., None].float()
        return self.fc(per_slot.flatten(1))


class FashionNetHeads(nn.Module):
    """All trainable parts of the extractor; the backbone is separate and frozen."""

    def __init__(self, config: FashionNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or FashionNetConfig()
        self.global_branch = GlobalBranch(self.config)
        self.landmark_branch = LandmarkPoolingBranch(self.config)
        fused = self.global_branch.out_dim + self.landmark_branch.out_dim + NUM_GARMENT_TYPES
        self.fuse = nn.Sequential(nn.Linear(fused, 1024), nn.BatchNorm1d(1024), nn.ReLU(inplace=True), nn.Dropout(0.2))
        self.embedding = nn.Linear(1024, self.config.embedding_dim)
        if self.config.category_from_pixels:
            self.category = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.global_branch.out_dim, self.config.num_categories))
        else:
            self.category = nn.Linear(1024, self.config.num_categories)
        self.attributes = nn.Linear(1024, self.config.num_attributes)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        points: torch.Tensor,
        visible: torch.Tensor,
        garment_types: torch.Tensor,
    ) -> FashionNetOutput:
        type_onehot = F.one_hot(garment_types, NUM_GARMENT_TYPES).float()
        pixels = self.global_branch(features)
        fused = self.fuse(torch.cat([pixels, self.landmark_branch(features, points, visible), type_onehot], 1))
        return FashionNetOutput(
            embedding=F.normalize(self.embedding(fused), dim=-1),
            category_logits=self.category(pixels if self.config.category_from_pixels else fused),
            attribute_logits=self.attributes(fused),
        )


class FashionNetInference(nn.Module):
    """``FashionNetHeads`` with tensors in and out (for engine.models.tracing): the plugin's inference path.

    (s8, s16, s32, points, visible, garment types) -> (embedding, category logits, attribute logits).
    """

    def __init__(self, heads: FashionNetHeads) -> None:
        super().__init__()
        self.heads = heads

    def forward(self, s8, s16, s32, points, visible, garment_types):
        output = self.heads({"s8": s8, "s16": s16, "s32": s32}, points, visible, garment_types)
        return output.embedding, output.category_logits, output.attribute_logits
