"""The cascade heads' inference shortcuts give the same numbers as the plain computation."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.cascade import CascadeConfig, Stage1Head, joint_heatmaps, pointwise
from engine.models.efficientnet_lite import FEATURE_CHANNELS
from engine.types import NUM_JOINTS


def test_pointwise_is_the_1x1_convolution_for_any_batch_with_or_without_bias():
    torch.manual_seed(0)
    x = torch.randn(3, 40, 9, 7)
    for bias in (True, False):
        conv = nn.Conv2d(40, 16, 1, bias=bias)
        assert torch.allclose(pointwise(conv, x), conv(x), atol=1e-5)


def _features(batch: int) -> dict[str, torch.Tensor]:
    sizes = {"s8": 28, "s16": 14, "s32": 7}
    return {name: torch.randn(batch, FEATURE_CHANNELS[name], size, size) for name, size in sizes.items()}


def test_stage1_without_joints_equals_all_zero_joints_also_after_the_weights_change():
    torch.manual_seed(0)
    head = Stage1Head(CascadeConfig(hidden=32))
    features, types = _features(2), torch.eye(3)[[0, 2]]
    no_joints = torch.zeros(2, NUM_JOINTS, 3)
    for _ in range(2):
        head.eval()  # inference cuts the joint-free weights once, here
        with torch.no_grad():
            without, _, _ = head(features, types, None)
            with_zeros, _, _ = head(features, types, no_joints)
        assert torch.allclose(without, with_zeros, atol=1e-6)
        head.train()
        with torch.no_grad():
            head.fuse[0][0].weight.add_(0.05 * torch.randn_like(head.fuse[0][0].weight))  # a training step
        assert torch.allclose(head(features, types, None)[0], head(features, types, no_joints)[0], atol=1e-6)


def test_stage1_without_joints_uses_weights_loaded_while_in_inference_mode():
    torch.manual_seed(0)
    head, other = Stage1Head(CascadeConfig(hidden=32)).eval(), Stage1Head(CascadeConfig(hidden=32)).eval()
    head.load_state_dict(other.state_dict())
    features, types = _features(1), torch.eye(3)[[1]]
    with torch.no_grad():
        assert torch.allclose(head(features, types, None)[0], other(features, types, None)[0], atol=1e-6)
        assert torch.allclose(head(features, types, None)[0], head(features, types, torch.zeros(1, NUM_JOINTS, 3))[0], atol=1e-6)


def _plain_fusion(head: Stage1Head, features, types: torch.Tensor, joint_maps: torch.Tensor) -> torch.Tensor:
    """Stage 1's fused map the plain way: every input channel, joints too, through the whole fusion."""
    x = head.lateral_s8(features["s8"])
    size = x.shape[-1]
    for name, lateral in (("s16", head.lateral_s16), ("s32", head.lateral_s32)):
        x = x + F.interpolate(lateral(features[name]), size=size, mode="bilinear", align_corners=False)
    return head.fuse(torch.cat([x, types[:, :, None, None].expand(-1, -1, size, size), joint_maps], dim=1))


def test_stage1_inference_cut_equals_the_plain_fusion_with_and_without_joints():
    torch.manual_seed(0)
    head = Stage1Head(CascadeConfig(hidden=32))
    for norm in (m for m in head.modules() if isinstance(m, nn.BatchNorm2d)):  # statistics worth folding
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
        nn.init.uniform_(norm.weight, 0.5, 1.5)
        nn.init.normal_(norm.bias)
    head.eval()  # the batch norm is folded and the type maps are computed here
    features, types = _features(3), torch.eye(3)
    for joints in (None, torch.rand(3, NUM_JOINTS, 3)):
        with torch.no_grad():
            _, _, fused = head(features, types, joints)
            plain = _plain_fusion(head, features, types, joint_heatmaps(joints, 3, fused.shape[-1], "cpu"))
        assert fused.abs().max() > 0.1  # not a map of zeros agreeing with another
        assert torch.allclose(fused, plain, atol=1e-5)
