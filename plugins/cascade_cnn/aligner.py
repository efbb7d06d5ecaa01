"""``cascade_cnn``: landmarks for garment crops, DFA-style (see engine.models.cascade)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.checkpoints import load_checkpoint, read_metadata, weights_version
from engine.contracts import Aligner, GarmentCrops, PluginInfo, Role
from engine.models.cascade import CascadeConfig, CascadeHeads, CascadeInference
from engine.models.int8 import int8_enabled, with_int8_layers
from engine.models.tracing import TracedInference
from engine.training.features import encode_canvases
from engine.types import GARMENT_TYPES, NUM_JOINTS, Landmarks, Visibility, slot_mask

WEIGHTS = Path(__file__).parent / "weights" / "cascade_cnn.pt"
BACKBONE_ID = "efficientnet_lite0/imagenet"
_METADATA = read_metadata(WEIGHTS)


class CascadeCnnAligner(Aligner):
    info = PluginInfo(
        name="cascade_cnn",
        version=weights_version("1.0", _METADATA),
        role=Role.ALIGNER,
        description="DFA-style 3-stage cascade (heatmap stage 1 + two local refinement stages) on EfficientNet-Lite0",
        input_size=224,
        weights_file="weights/cascade_cnn.pt",
        weights_sha256=_METADATA.get("sha256"),
        devices=("cpu", "cuda"),
        backbone=BACKBONE_ID,
    )

    def __init__(self, device: str = "cpu", weights: "str | Path | None" = None) -> None:
        super().__init__(device)
        state, config = load_checkpoint(weights or WEIGHTS, device)
        self.heads = CascadeHeads(CascadeConfig.from_dict(config["model"]))
        self.heads.load_state_dict(state)
        self.heads.to(device).eval()
        # The visibility head stays float32: its classes turn on small margins, and its layers are narrow.
        heads = with_int8_layers(self.heads, skip=("visibility",)) if int8_enabled(device) else self.heads
        self.precision = "int8" if heads is not self.heads else "float32"
        self._inference = TracedInference(CascadeInference(heads))

    def compute_features(self, crops: GarmentCrops) -> Any:
        return encode_canvases(crops.canvases, self.device)

    @torch.inference_mode()
    def align_crops(self, crops: GarmentCrops, features: Any = None) -> list[Landmarks]:
        if len(crops) == 0:
            return []
        features = features if features is not None else self.compute_features(crops)
        features = {k: v.to(self.device, torch.float32) for k, v in features.items()}
        types = torch.tensor([GARMENT_TYPES.index(t) for t in crops.garment_types], device=self.device)
        edges = (
            torch.from_numpy(crops.photo_edges) if crops.photo_edges is not None else torch.zeros(len(crops), 4)
        ).to(self.device)  # zeros: the head's own default when the photo sides are unknown
        joints = self._joints(crops)
        tensors = (features["s4"], features["s8"], features["s16"], features["s32"], types, edges)
        stage_points, visibility_logits = self._inference(*tensors, *([joints] if joints is not None else []))
        stage_points = stage_points.cpu().numpy()  # (N, S, 8, 2)
        visibility_probs = visibility_logits.softmax(-1).cpu().numpy()
        return [
            self._to_landmarks(stage_points[i], visibility_probs[i], crops, i) for i in range(len(crops))
        ]

    def _joints(self, crops: GarmentCrops) -> torch.Tensor | None:
        """Detector joints on the canvas (normalised), zeros for crops without them."""
        if all(d.joints is None for d in crops.detections):
            return None
        joints = np.zeros((len(crops), NUM_JOINTS, 3), np.float32)
        for i, (detection, transform) in enumerate(zip(crops.detections, crops.letterboxes)):
            if detection.joints is not None:
                joints[i, :, :2] = transform.to_normalised(detection.joints[:, :2])
                joints[i, :, 2] = detection.joints[:, 2]
        return torch.from_numpy(joints).to(self.device)

    @staticmethod
    def _to_landmarks(stage_points: np.ndarray, visibility_probs: np.ndarray, crops: GarmentCrops, i: int) -> Landmarks:
        transform = crops.letterboxes[i]
        has_slot = slot_mask(crops.detections[i].garment_type)
        visibility = visibility_probs.argmax(-1)
        visibility[~has_slot] = Visibility.ABSENT
        image_stages = transform.from_normalised(stage_points)
        return Landmarks(
            points=image_stages[-1],
            visibility=visibility,
            visibility_scores=visibility_probs,
            stage_points=image_stages,
        )
