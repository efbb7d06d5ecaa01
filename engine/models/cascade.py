"""DFA-style cascade landmark network (Liu et al., "Fashion Landmark Detection in the Wild", ECCV 2016).

The heads sit on a frozen EfficientNet-Lite0 (engine.models.efficientnet_lite),
whose multi-scale features are computed once per crop:

- Stage 1 sees the whole crop. A spatial head fuses the stride-8/16/32 maps
  (plus the garment type, plus the body joints when a detector has them),
  predicts one heatmap per slot and turns it into normalised coordinates with
  a soft-argmax (integral regression: a regression output trained with a
  coordinate loss, but computed spatially, which transfers far better to real
  photos than pooled regression). Visibility (visible / occluded / absent) is
  classified per slot from features pooled under that slot's heatmap.
- Stages 2 and 3 each sample a small grid of features around every slot's
  current estimate (grid_sample on the stride-8 and stride-16 maps), add the
  estimate itself, and predict a correction; the sampling radius shrinks from
  stage to stage as in DFA.
- Visibility (visible / occluded / absent) is classified per slot at the
  final estimate (VisibilityHead).

Coordinates are normalised to the 224x224 letterboxed canvas: (0, 0) top-left,
(1, 1) bottom-right.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.efficientnet_lite import FEATURE_CHANNELS
from engine.types import MIRROR_SLOTS, NUM_JOINTS, NUM_SLOTS

NUM_GARMENT_TYPES = 3
NUM_VISIBILITY = 3
HEATMAP_SIZE = 28  # stride 8 on a 224 canvas


@dataclass
class CascadeConfig:
    hidden: int = 64
    fuse_layers: int = 2
    refine_stages: int = 2
    refine_grid: int = 5
    refine_radii: tuple[float, ...] = (0.08, 0.04)
    refine_hidden: int = 256
    use_joints: bool = True
    visibility_s4: bool = False  # the visibility head also looks at the stride-4 map (finer edges)
    visibility_dropout: float = 0.0
    visibility_wide: bool = False  # ... and at a wider stride-16 patch (which garment lies over which)
    visibility_pair: bool = False  # ... and decides each slot beside its left/right partner
    photo_edges: bool = False  # ... and knows which sides of the photo the crop reaches (cut-off corners)

    def to_dict(self) -> dict:
        return {**self.__dict__, "refine_radii": list(self.refine_radii)}

    @classmethod
    def from_dict(cls, data: dict) -> "CascadeConfig":
        """The inverse of ``to_dict`` (a checkpoint's config)."""
        return cls(**{**data, "refine_radii": tuple(data["refine_radii"])})


@dataclass
class CascadeOutput:
    stage_points: list[torch.Tensor]  # each (N, 8, 2), normalised canvas coordinates
    visibility_logits: torch.Tensor  # (N, 8, 3)
    heatmaps: torch.Tensor  # (N, 8, H, W) softmax-normalised

    @property
    def points(self) -> torch.Tensor:
        return self.stage_points[-1]


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def soft_argmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, H, W) logits -> normalised (x, y) expectations (N, K, 2) and the probability maps."""
    n, k, h, w = logits.shape
    probs = logits.flatten(2).softmax(-1).view(n, k, h, w)
    xs = (torch.arange(w, device=logits.device, dtype=logits.dtype) + 0.5) / w
    ys = (torch.arange(h, device=logits.device, dtype=logits.dtype) + 0.5) / h
    x = (probs.sum(2) * xs).sum(-1)
    y = (probs.sum(3) * ys).sum(-1)
    return torch.stack([x, y], dim=-1), probs


def joint_heatmaps(joints: torch.Tensor | None, batch: int, size: int, device, sigma: float = 1.5) -> torch.Tensor:
    """Render (N, 14, 3) normalised joints (x, y, confidence) as Gaussian maps; zeros when absent."""
    if joints is None:
        return torch.zeros(batch, NUM_JOINTS, size, size, device=device)
    grid = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size
    gx = (grid[None, None, None, :] - joints[..., 0, None, None]) * size
    gy = (grid[None, None, :, None] - joints[..., 1, None, None]) * size
    maps = torch.exp(-(gx**2 + gy**2) / (2 * sigma**2))
    return maps * joints[..., 2, None, None]


class Stage1Head(nn.Module):
    """Whole-crop head: multi-scale fusion -> one heatmap per slot -> soft-argmax."""

    def __init__(self, config: CascadeConfig) -> None:
        super().__init__()
        h = config.hidden
        self.use_joints = config.use_joints
        self.lateral_s8 = nn.Conv2d(FEATURE_CHANNELS["s8"], h, 1)
        self.lateral_s16 = nn.Conv2d(FEATURE_CHANNELS["s16"], h, 1)
        self.lateral_s32 = nn.Conv2d(FEATURE_CHANNELS["s32"], h, 1)
        extra = NUM_GARMENT_TYPES + (NUM_JOINTS if config.use_joints else 0)
        self.fuse = nn.Sequential(
            conv_bn_relu(h + extra, h), *(conv_bn_relu(h, h) for _ in range(config.fuse_layers - 1))
        )
        self.heatmap = nn.Conv2d(h, NUM_SLOTS, 1)
        # For inference: the fusion convolutions cut up and folded once (see _cut_for_inference).
        later = [f"inference_{kind}_{i}" for i in range(1, config.fuse_layers) for kind in ("weight", "bias")]
        for name in ("inference_weight", "inference_weight_joints", "inference_bias", "type_maps", *later):
            self.register_buffer(name, torch.empty(0), persistent=False)
        self.register_load_state_dict_post_hook(Stage1Head._after_load)

    def forward(self, features: dict[str, torch.Tensor], type_onehot: torch.Tensor, joints: torch.Tensor | None):
        s8 = pointwise(self.lateral_s8, features["s8"])
        size = s8.shape[-1]
        s16 = pointwise(self.lateral_s16, features["s16"])
        s32 = pointwise(self.lateral_s32, features["s32"])
        x = s8 + F.interpolate(s16, size=size, mode="bilinear", align_corners=False)
        x = x + F.interpolate(s32, size=size, mode="bilinear", align_corners=False)
        joint_maps = None
        if self.use_joints and joints is not None:
            joint_maps = joint_heatmaps(joints, x.shape[0], size, x.device)
        if not self.training:
            x = self._fuse_for_inference(x, type_onehot, joint_maps)
        else:
            x = torch.cat([x, type_onehot[:, :, None, None].expand(-1, -1, size, size)], dim=1)
            if joint_maps is not None:
                x = self.fuse(torch.cat([x, joint_maps], dim=1))
            elif self.use_joints:
                x = self._fuse_without_joints(x)
            else:
                x = self.fuse(x)
        points, probs = soft_argmax(pointwise(self.heatmap, x))
        return points, probs, x

    def train(self, mode: bool = True) -> "Stage1Head":
        super().train(mode)
        self._cut_for_inference()
        return self

    @staticmethod
    def _after_load(module: "Stage1Head", incompatible_keys) -> None:
        module._cut_for_inference()  # weights loaded into heads already in inference mode

    def _cut_for_inference(self) -> None:
        """In inference, cut the first fusion convolution once (on the switch to it, or on loading
        weights), with its batch norm folded in:

        - the garment type enters as three constant maps, so its share of the convolution is a fixed
          map per type, computed here (the zero padding makes its border differ from its middle);
        - all-zero joint maps (no detector joints) multiply their weights by zeros: left out.

        What is left convolves only the fused features (and the joint maps when there are), the
        same numbers for less work. The later layers are folded too. All weights are kept
        channels-last, the layout of the maps they meet (see ``pointwise``): oneDNN would otherwise
        reorder them on every call. Training slices per call, so gradients reach the weights.
        """
        if self.training:
            return
        conv, norm, _ = self.fuse[0]
        weight, bias = fold_batch_norm(conv.weight, conv.bias, norm)
        h = self.lateral_s8.out_channels
        types = slice(h, h + NUM_GARMENT_TYPES)
        self.inference_weight = _channels_last(weight[:, :h])
        if self.use_joints:
            self.inference_weight_joints = _channels_last(torch.cat([weight[:, :h], weight[:, types.stop :]], dim=1))
        self.inference_bias = bias
        for i, (later_conv, later_norm, _) in enumerate(self.fuse[1:], start=1):
            later_weight, later_bias = fold_batch_norm(later_conv.weight, later_conv.bias, later_norm)
            setattr(self, f"inference_weight_{i}", _channels_last(later_weight))
            setattr(self, f"inference_bias_{i}", later_bias)
        constant = torch.eye(NUM_GARMENT_TYPES, device=weight.device)[:, :, None, None]
        constant = constant.expand(-1, -1, HEATMAP_SIZE, HEATMAP_SIZE)
        self.type_maps = F.conv2d(constant, weight[:, types], padding=conv.padding)  # (types, h, S, S)

    def _fuse_for_inference(self, x: torch.Tensor, type_onehot: torch.Tensor, joint_maps: torch.Tensor | None):
        conv = self.fuse[0][0]
        if joint_maps is None:
            first = F.conv2d(x, self.inference_weight, self.inference_bias, padding=conv.padding)
        else:
            first = F.conv2d(torch.cat([x, joint_maps], dim=1), self.inference_weight_joints, self.inference_bias,
                             padding=conv.padding)
        x = torch.relu(first + self.type_maps.index_select(0, type_onehot.argmax(1)))  # the types are one-hot
        for i in range(1, len(self.fuse)):
            x = torch.relu(F.conv2d(x, getattr(self, f"inference_weight_{i}"), getattr(self, f"inference_bias_{i}"),
                                    padding=conv.padding))
        return x

    def _fuse_without_joints(self, x: torch.Tensor) -> torch.Tensor:
        """``fuse`` with all-zero joint maps, without making them: their weights would multiply zeros."""
        conv, norm, relu = self.fuse[0]
        first = F.conv2d(x, conv.weight[:, : x.shape[1]], conv.bias, padding=conv.padding)
        return self.fuse[1:](relu(norm(first)))


def _channels_last(weight: torch.Tensor) -> torch.Tensor:
    return weight.contiguous(memory_format=torch.channels_last)


def fold_batch_norm(weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.BatchNorm2d):
    """A convolution's weight and bias with the inference-mode batch norm after it folded in:
    ``norm(conv(x)) == conv'(x)``. Detached copies."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    bias = bias if bias is not None else torch.zeros_like(norm.running_mean)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    folded_bias = (bias - norm.running_mean) * scale + norm.bias
    return (weight * scale.view(shape)).detach().clone(), folded_bias.detach().clone()


class VisibilityHead(nn.Module):
    """Visible / occluded / absent per slot, judged where the cascade finally put the slot.

    It sees the features under the slot's heatmap, a local patch at the final
    estimate, the estimate itself (a slot on the crop's edge or in the padding
    is likely cut off) and how peaked the heatmap is (a hidden corner gives a
    vague one). Optionally (newer checkpoints): a wider patch, the photo sides
    the crop reaches, and the slot's left/right partner, whose state usually
    matches (a top worn over a skirt hides both waistline corners).
    """

    def __init__(self, config: CascadeConfig) -> None:
        super().__init__()
        h = config.hidden
        self.grid = 5
        self.reduce = nn.Conv2d(h, 16, 1)
        self.reduce_s8 = nn.Conv2d(FEATURE_CHANNELS["s8"], 16, 1)
        self.reduce_s4 = nn.Conv2d(FEATURE_CHANNELS["s4"], 16, 1) if config.visibility_s4 else None
        self.reduce_s16 = nn.Conv2d(FEATURE_CHANNELS["s16"], 16, 1) if config.visibility_wide else None
        self.photo_edges = config.photo_edges
        self.pair = config.visibility_pair
        maps = 2 + int(config.visibility_s4) + int(config.visibility_wide)
        self.dropout = config.visibility_dropout
        in_dim = h + maps * 16 * self.grid * self.grid + 2 + 1 + NUM_SLOTS + NUM_GARMENT_TYPES
        in_dim += 4 if config.photo_edges else 0
        if self.pair:
            self.embed = nn.Sequential(nn.Linear(in_dim, 2 * h), nn.ReLU(inplace=True))
            self.classify = nn.Sequential(nn.Linear(4 * h, h), nn.ReLU(inplace=True), nn.Linear(h, NUM_VISIBILITY))
            self.register_buffer("partner", torch.as_tensor(MIRROR_SLOTS), persistent=False)
        else:
            self.mlp = nn.Sequential(
                nn.Linear(in_dim, 2 * h), nn.ReLU(inplace=True), nn.Linear(2 * h, h), nn.ReLU(inplace=True),
                nn.Linear(h, NUM_VISIBILITY),
            )

    def forward(self, features, fused: torch.Tensor, probs: torch.Tensor, points: torch.Tensor,
                type_onehot: torch.Tensor, edges: torch.Tensor | None = None):
        n = points.shape[0]
        under_heatmap = torch.einsum("nkhw,nchw->nkc", probs, fused)
        # The raw stride-8 map keeps the colours and edges that tell an arm or a bag from the garment.
        patches = [
            sample_projected(fused, self.reduce, points, 0.06, self.grid),
            sample_projected(features["s8"], self.reduce_s8, points, 0.06, self.grid),
        ]
        if self.reduce_s4 is not None:
            patches.append(sample_projected(features["s4"], self.reduce_s4, points, 0.03, self.grid))
        if self.reduce_s16 is not None:
            patches.append(sample_projected(features["s16"], self.reduce_s16, points, 0.15, self.grid))
        local = torch.cat(patches, dim=-1)
        peak = probs.flatten(2).amax(-1, keepdim=True) * probs.shape[-1] * probs.shape[-2] / 100
        slots = _slot_identity(points.device).expand(n, -1, -1)
        types = type_onehot[:, None, :].expand(-1, NUM_SLOTS, -1)
        parts = [under_heatmap, local, points, peak, slots, types]
        if self.photo_edges:
            edges = edges if edges is not None else torch.zeros(n, 4, device=points.device)
            parts.append(edges[:, None, :].expand(-1, NUM_SLOTS, -1))
        inputs = F.dropout(torch.cat(parts, dim=-1), self.dropout, self.training)
        if not self.pair:
            return self.mlp(inputs)
        embedded = self.embed(inputs)
        return self.classify(torch.cat([embedded, embedded[:, self.partner]], dim=-1))


def project(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution applied to (..., in channels, M) values as a matrix product: (..., out, M).

    The same numbers as the convolution, 2-4x faster at batch size 1 on a CPU (oneDNN's convolutions
    are tuned for large maps; the heads' maps and samples are small).
    """
    out = torch.matmul(conv.weight[:, :, 0, 0], x)
    return out + conv.bias[:, None] if conv.bias is not None else out


def pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a 1x1 convolution and an (N, C, H, W) map, as a product over the map's pixels.

    The pixels are rows and the result is channels-last (a view of the product): the backbone's maps
    are channels-last, so neither side is copied, and bilinear upsampling runs several times faster
    on that layout than on a contiguous one.
    """
    n, c, h, w = x.shape
    out = torch.matmul(x.permute(0, 2, 3, 1).reshape(n, h * w, c), conv.weight[:, :, 0, 0].t())
    out = out + conv.bias if conv.bias is not None else out
    return out.view(n, h, w, -1).permute(0, 3, 1, 2)


def sample_around(feature_map: torch.Tensor, points: torch.Tensor, radius: float, grid: int) -> torch.Tensor:
    """Features on a grid x grid lattice of +-radius around each point: (N, K, C * grid * grid)."""
    n, k, _ = points.shape
    locations = points[:, :, None, :] + _lattice(radius, grid, points.device)  # normalised [0, 1]
    sampled = F.grid_sample(feature_map, locations * 2 - 1, mode="bilinear", padding_mode="zeros", align_corners=False)
    # sampled: (N, C, K, grid*grid)
    return sampled.permute(0, 2, 1, 3).reshape(n, k, -1)


def _constant(make):
    """``make`` (hashable arguments -> a tensor) run once per arguments. The tensor serves training and
    inference alike, and enters a trace as a constant instead of being rebuilt on every call
    (engine.models.tracing runs a module once before tracing it)."""

    @functools.lru_cache(maxsize=None)
    @functools.wraps(make)
    def cached(*args):
        with torch.inference_mode(False), torch.no_grad():
            return make(*args)

    return cached


@_constant
def _lattice(radius: float, grid: int, device: torch.device) -> torch.Tensor:
    """The (1, 1, grid * grid, 2) offsets of ``sample_around``."""
    offsets = torch.linspace(-radius, radius, grid, device=device)
    oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
    return torch.stack([ox, oy], dim=-1).view(1, 1, grid * grid, 2)


@_constant
def _slot_identity(device: torch.device) -> torch.Tensor:
    """(1, 8, 8): each slot's one-hot code, an input of the refinement and visibility MLPs."""
    return torch.eye(NUM_SLOTS, device=device)[None]


def sample_projected(
    feature_map: torch.Tensor, projection: nn.Conv2d, points: torch.Tensor, radius: float, grid: int
) -> torch.Tensor:
    """``sample_around(projection(feature_map), ...)`` computed cheaply.

    A 1x1 convolution and bilinear sampling are both linear, so they commute:
    projecting the few sampled points gives the same numbers as projecting the
    whole map first, for a fraction of the work.
    """
    n, k, _ = points.shape
    raw = sample_around(feature_map, points, radius, grid).view(n, k, feature_map.shape[1], grid * grid)
    return project(projection, raw).reshape(n, k, -1)  # from (N, K, out, grid * grid)


class RefineStage(nn.Module):
    """One cascade stage: local features around the estimate + the estimate -> a correction."""

    def __init__(self, config: CascadeConfig, radius: float) -> None:
        super().__init__()
        self.radius = radius
        self.grid = config.refine_grid
        self.reduce_s8 = nn.Conv2d(FEATURE_CHANNELS["s8"], 32, 1)
        self.reduce_s16 = nn.Conv2d(FEATURE_CHANNELS["s16"], 32, 1)
        in_dim = 64 * self.grid * self.grid + 2 + NUM_SLOTS + NUM_GARMENT_TYPES
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, config.refine_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.refine_hidden, config.refine_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.refine_hidden, 2),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, features: dict[str, torch.Tensor], points: torch.Tensor, type_onehot: torch.Tensor) -> torch.Tensor:
        n = points.shape[0]
        local = torch.cat(
            [
                sample_projected(features["s8"], self.reduce_s8, points, self.radius, self.grid),
                sample_projected(features["s16"], self.reduce_s16, points, self.radius, self.grid),
            ],
            dim=-1,
        )
        slots = _slot_identity(points.device).expand(n, -1, -1)
        types = type_onehot[:, None, :].expand(-1, NUM_SLOTS, -1)
        delta = self.mlp(torch.cat([local, points, slots, types], dim=-1))
        # A stage corrects within a few times its sampling radius, never jumps across the crop.
        return points + torch.tanh(delta) * (3 * self.radius)


class CascadeInference(nn.Module):
    """``CascadeHeads`` with tensors in and out (for engine.models.tracing): the plugin's inference path.

    (s4, s8, s16, s32, garment types, photo edges[, joints]) -> (stage points (N, S, 8, 2), visibility logits).
    """

    def __init__(self, heads: "CascadeHeads") -> None:
        super().__init__()
        self.heads = heads

    def forward(self, s4, s8, s16, s32, garment_types, photo_edges, joints=None):
        features = {"s4": s4, "s8": s8, "s16": s16, "s32": s32}
        output = self.heads(features, garment_types, joints, photo_edges)
        return torch.stack(output.stage_points, dim=1), output.visibility_logits


class CascadeHeads(nn.Module):
    """All trainable parts of the aligner; the backbone is separate and frozen."""

    def __init__(self, config: CascadeConfig | None = None) -> None:
        super().__init__()
        self.config = config or CascadeConfig()
        self.stage1 = Stage1Head(self.config)
        radii = self.config.refine_radii[: self.config.refine_stages]
        self.refine = nn.ModuleList(RefineStage(self.config, r) for r in radii)
        self.visibility = VisibilityHead(self.config)
        self.landmarks_frozen = False

    def freeze_landmarks(self) -> None:
        """Train the visibility head alone: stage 1 and the refinement stages keep their weights and
        their batch-norm statistics (they stay in eval mode whatever ``train()`` is asked)."""
        self.landmarks_frozen = True
        self.stage1.requires_grad_(False)
        self.refine.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "CascadeHeads":
        super().train(mode)
        if self.landmarks_frozen:
            self.stage1.eval()
            self.refine.eval()
        return self

    def forward(
        self, features: dict[str, torch.Tensor], garment_types: torch.Tensor, joints: torch.Tensor | None = None,
        photo_edges: torch.Tensor | None = None,
    ) -> CascadeOutput:
        type_onehot = F.one_hot(garment_types, NUM_GARMENT_TYPES).float()
        points, probs, fused = self.stage1(features, type_onehot, joints)
        stage_points = [points]
        for stage in self.refine:
            # Each stage learns to correct the previous one, not to move it (DFA trains stages in turn).
            points = stage(features, points.detach(), type_onehot)
            stage_points.append(points)
        visibility_logits = self.visibility(features, fused, probs, points.detach(), type_onehot, photo_edges)
        return CascadeOutput(stage_points, visibility_logits, probs)
