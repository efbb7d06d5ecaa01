"""The published DFA networks (Liu et al., "Fashion Landmark Detection in the Wild", ECCV 2016), exactly.

One model per clothes type (upper: 6 landmarks, lower: 4, full: 8), each a
cascade of four VGG-16 networks with their own weights, as the authors'
prototxts define them:

- stage 1 (``DFA_{type}_stage1``): conv1_1 ... conv5_3 (3x3, pad 1, ReLU; 2x2
  max pools after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3), fc6 and fc7
  (4096, ReLU, dropout), then the heads on fc7: fc8_landmarks (2N values x1,
  y1, ..., xN, yN), fc8_visibility_1 ... _N (3 logits each: visible,
  occluded, absent) and fc8_softlabel (20 pseudo-label classes);
- stage 2, stage 3 easy and stage 3 hard: the same convolutions and fc6; the
  previous stage's landmarks (2N) go through fc_pre (512); fc6_pre is the
  concatenation of fc6 and fc_pre (4608) followed by ReLU and dropout;
  fc7_pre (4096); the same heads on fc7_pre, with fc8_hardlabel instead of
  fc8_softlabel.

Landmarks are normalised to [-0.5, 0.5] on the input canvas. Stage 2 gives
``L2 = L1 - out2 / 5``; stage 3 averages its two branches:
``L3 = L2 - (out_easy / 5 + out_hard / 5) / 2``, and its visibility is the
argmax of the summed easy and hard logits.

Every torch module is named after its Caffe layer (``layers["conv1_1"]``) so
importing a .caffemodel is a name-for-name copy (``state_dict_from_caffe``).
Dropout is the identity at inference and is left out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.caffemodel import CaffeNet

#: Landmarks per clothes type in the published models.
NUM_LANDMARKS = {"upper": 6, "lower": 4, "full": 8}
STAGES = ("stage1", "stage2", "stage3_easy", "stage3_hard")
#: Convolutions per VGG-16 block; a 2x2 max pool closes each block.
VGG16_BLOCKS = (2, 2, 3, 3, 3)
#: Caffe's BGR channel means on the 0-255 scale (no division by a standard deviation).
BGR_MEANS = (102.9801, 115.9465, 122.7717)
#: Each cascade stage's output is a correction divided by this before it is subtracted.
CORRECTION_DIVISOR = 5.0


@dataclass
class DfaConfig:
    """Sizes of the network. The defaults are the published models'; tests use smaller ones."""

    input_size: int = 224
    conv_widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    fc_width: int = 4096
    pre_width: int = 512
    softlabel_classes: int = 20
    hardlabel_classes: int | None = None  # not among the prototxt facts we hold: the importer reads it from the file

    @property
    def pool5_size(self) -> int:
        size = self.input_size
        for _ in VGG16_BLOCKS:
            size = -(-size // 2)  # Caffe pools round up
        return size

    def to_dict(self) -> dict:
        values = asdict(self)
        values["conv_widths"] = list(self.conv_widths)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "DfaConfig":
        values = dict(values)
        values["conv_widths"] = tuple(values["conv_widths"])
        return cls(**values)


def conv_layer_names() -> list[str]:
    return [f"conv{block}_{i}" for block, count in enumerate(VGG16_BLOCKS, start=1) for i in range(1, count + 1)]


class DfaStage(nn.Module):
    """One network of the cascade: stage 1 (``cascade=False``) or a refining stage (``cascade=True``)."""

    def __init__(self, config: DfaConfig, num_landmarks: int, cascade: bool, label_classes: int) -> None:
        super().__init__()
        self.cascade = cascade
        self.num_landmarks = num_landmarks
        layers: dict[str, nn.Module] = {}
        in_channels = 3
        for block, count in enumerate(VGG16_BLOCKS, start=1):
            width = config.conv_widths[block - 1]
            for i in range(1, count + 1):
                layers[f"conv{block}_{i}"] = nn.Conv2d(in_channels, width, 3, padding=1)
                in_channels = width
        flat = in_channels * config.pool5_size**2
        layers["fc6"] = nn.Linear(flat, config.fc_width)
        if cascade:
            layers["fc_pre"] = nn.Linear(2 * num_landmarks, config.pre_width)
            layers["fc7_pre"] = nn.Linear(config.fc_width + config.pre_width, config.fc_width)
            label_name = "fc8_hardlabel"
        else:
            layers["fc7"] = nn.Linear(config.fc_width, config.fc_width)
            label_name = "fc8_softlabel"
        layers["fc8_landmarks"] = nn.Linear(config.fc_width, 2 * num_landmarks)
        for i in range(1, num_landmarks + 1):
            layers[f"fc8_visibility_{i}"] = nn.Linear(config.fc_width, 3)
        layers[label_name] = nn.Linear(config.fc_width, label_classes)
        self.layers = nn.ModuleDict(layers)

    def forward(self, image: torch.Tensor, previous: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) BGR mean-subtracted -> (B, 2N) landmark outputs and (B, N, 3) visibility logits."""
        x = image
        for block, count in enumerate(VGG16_BLOCKS, start=1):
            for i in range(1, count + 1):
                x = F.relu(self.layers[f"conv{block}_{i}"](x))
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        fc6 = self.layers["fc6"](x.flatten(1))
        if self.cascade:
            if previous is None:
                raise ValueError("a cascade stage needs the previous stage's landmarks")
            joined = F.relu(torch.cat([fc6, self.layers["fc_pre"](previous)], dim=1))
            top = F.relu(self.layers["fc7_pre"](joined))
        else:
            top = F.relu(self.layers["fc7"](F.relu(fc6)))
        landmarks = self.layers["fc8_landmarks"](top)
        visibility = torch.stack(
            [self.layers[f"fc8_visibility_{i}"](top) for i in range(1, self.num_landmarks + 1)], dim=1
        )
        return landmarks, visibility


@dataclass
class DfaOutput:
    stage_landmarks: list[torch.Tensor]  # each (B, N, 2) in [-0.5, 0.5] canvas coordinates
    visibility_logits: torch.Tensor  # (B, N, 3), the last stage's

    @property
    def landmarks(self) -> torch.Tensor:
        return self.stage_landmarks[-1]


class DfaCascade(nn.Module):
    """The four networks of one clothes type and the paper's decoding between them."""

    def __init__(self, config: DfaConfig, garment_type: str) -> None:
        super().__init__()
        if garment_type not in NUM_LANDMARKS:
            raise ValueError(f"unknown DFA clothes type {garment_type!r}: expected upper, lower or full")
        if config.hardlabel_classes is None:
            raise ValueError("DfaConfig.hardlabel_classes is not set: it comes from the imported stage 2 file")
        hardlabel_classes = config.hardlabel_classes
        n = NUM_LANDMARKS[garment_type]
        self.config = config
        self.garment_type = garment_type
        self.num_landmarks = n
        self.stage1 = DfaStage(config, n, cascade=False, label_classes=config.softlabel_classes)
        self.stage2 = DfaStage(config, n, cascade=True, label_classes=hardlabel_classes)
        self.stage3_easy = DfaStage(config, n, cascade=True, label_classes=hardlabel_classes)
        self.stage3_hard = DfaStage(config, n, cascade=True, label_classes=hardlabel_classes)

    def forward(self, image: torch.Tensor) -> DfaOutput:
        l1, _ = self.stage1(image)
        out2, _ = self.stage2(image, l1)
        l2 = l1 - out2 / CORRECTION_DIVISOR
        out_easy, vis_easy = self.stage3_easy(image, l2)
        out_hard, vis_hard = self.stage3_hard(image, l2)
        l3 = l2 - (out_easy / CORRECTION_DIVISOR + out_hard / CORRECTION_DIVISOR) / 2
        stages = [points.view(-1, self.num_landmarks, 2) for points in (l1, l2, l3)]
        return DfaOutput(stages, vis_easy + vis_hard)


def preprocess(canvases: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) RGB uint8 canvases -> (B, 3, S, S) float: BGR, Caffe means subtracted, 0-255 scale."""
    bgr = torch.from_numpy(np.ascontiguousarray(canvases[..., ::-1])).float()
    bgr = bgr - torch.tensor(BGR_MEANS)
    return bgr.permute(0, 3, 1, 2).contiguous()


class CaffeImportError(ValueError):
    """A .caffemodel whose layers do not match the DFA network."""


def state_dict_from_caffe(stage: DfaStage, net: CaffeNet) -> dict[str, torch.Tensor]:
    """The stage's state dict, copied layer by layer from ``net``; every name and shape is checked."""
    source = net.path or net.name or "the caffemodel"
    found = net.weighted_layers()
    expected = {name: module for name, module in stage.layers.items()}
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing layers {', '.join(missing)}")
        if extra:
            problems.append(f"unexpected layers with weights {', '.join(extra)}")
        raise CaffeImportError(f"{source}: {'; '.join(problems)} (is this the right stage and clothes type?)")
    state = {}
    for name, module in expected.items():
        blobs = found[name].blobs
        if len(blobs) != 2:
            raise CaffeImportError(f"{source}: layer {name} has {len(blobs)} blobs, expected 2 (weights, bias)")
        state[f"layers.{name}.weight"] = _checked(source, name, "weights", blobs[0], tuple(module.weight.shape))
        state[f"layers.{name}.bias"] = _checked(source, name, "bias", blobs[1], tuple(module.bias.shape))
    return state


def label_classes_in(net: CaffeNet, label_layer: str) -> int:
    """How many classes a pseudo-label head of ``net`` has (fc8_softlabel / fc8_hardlabel)."""
    layer = net.weighted_layers().get(label_layer)
    if layer is None or not layer.blobs:
        raise CaffeImportError(f"{net.path or net.name}: missing layer {label_layer}")
    weights = layer.blobs[0]
    # (out, in), or (1, 1, out, in) in old files.
    return int(weights.shape[2] if weights.ndim == 4 and weights.shape[:2] == (1, 1) else weights.shape[0])


def _checked(source, layer: str, what: str, blob: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    # Old Caffe files store an InnerProduct's weights as (1, 1, out, in) and biases as (1, 1, 1, out).
    squeezed = blob.reshape(blob.shape[-2:]) if len(shape) == 2 and blob.ndim == 4 and blob.shape[:2] == (1, 1) else blob
    if len(shape) == 1 and blob.ndim == 4 and blob.shape[:3] == (1, 1, 1):
        squeezed = blob.reshape(-1)
    if tuple(squeezed.shape) != shape:
        raise CaffeImportError(f"{source}: layer {layer} {what} have shape {tuple(blob.shape)}, expected {shape}")
    return torch.from_numpy(np.ascontiguousarray(squeezed, dtype=np.float32))
