"""Backbone features for many canvases at once: the frozen backbone runs once per crop.

Training on CPU caches these (float16) and trains only the small heads.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from engine.models.efficientnet_lite import EfficientNetLite, shared_feature_maps

FeatureMaps = dict[str, torch.Tensor]


@torch.inference_mode()
def encode_canvases(
    canvases: np.ndarray,
    device: str = "cpu",
    batch_size: int = 16,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    backbone: EfficientNetLite | None = None,
) -> FeatureMaps:
    """(N, S, S, 3) uint8 canvases -> {"s8", "s16", "s32"} maps on the CPU in ``dtype``."""
    if backbone is None:
        feature_maps = shared_feature_maps(device)
    else:
        feature_maps = lambda batch: backbone.forward_features(backbone.normalise(batch))  # noqa: E731
    chunks: dict[str, list[torch.Tensor]] = {}
    batches = range(0, len(canvases), batch_size)
    for start in tqdm(batches, desc="backbone", unit="batch", disable=not progress):
        batch = torch.from_numpy(np.ascontiguousarray(canvases[start : start + batch_size])).to(device)
        maps = feature_maps(batch)
        for name, value in maps.items():
            chunks.setdefault(name, []).append(value.to("cpu", dtype))
    if not chunks:
        raise ValueError("no canvases to encode")
    return {name: torch.cat(values) for name, values in chunks.items()}


def select(features: FeatureMaps, index, device: str = "cpu") -> FeatureMaps:
    """Rows ``index`` of every map, as float32 on ``device`` (what the heads take)."""
    return {name: value[index].to(device, torch.float32) for name, value in features.items()}
