"""``fashionnet``: 256-d garment embeddings with category and attribute predictions."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from engine.checkpoints import load_checkpoint, read_metadata, weights_version
from engine.contracts import Extractor, GarmentCrops, PluginInfo, Role
from engine.models.fashionnet import FashionNetConfig, FashionNetHeads, FashionNetInference
from engine.models.int8 import int8_enabled, with_int8_layers
from engine.models.tracing import TracedInference
from engine.training.features import encode_canvases
from engine.types import GARMENT_TYPES, Embedding, Landmarks, Visibility

WEIGHTS = Path(__file__).parent / "weights" / "fashionnet.pt"
BACKBONE_ID = "efficientnet_lite0/imagenet"
_METADATA = read_metadata(WEIGHTS)
#: Attributes whose probability reaches this are returned to users.
ATTRIBUTE_THRESHOLD = 0.5
#: The global branch's 1x1 reductions run as int8 products too (engine.models.int8).
INT8_CONVOLUTIONS = ("global_branch.reduce.0", "global_branch.reduce_s16.0")


class FashionNetExtractor(Extractor):
    info = PluginInfo(
        name="fashionnet",
        version=weights_version("1.0", _METADATA),
        role=Role.EXTRACTOR,
        description="FashionNet-style global + landmark-pooling embedding on EfficientNet-Lite0, category and attribute heads",
        input_size=224,
        embedding_dim=256,
        metric="cosine",
        weights_file="weights/fashionnet.pt",
        weights_sha256=_METADATA.get("sha256"),
        devices=("cpu", "cuda"),
        backbone=BACKBONE_ID,
    )

    def __init__(self, device: str = "cpu", weights: "str | Path | None" = None) -> None:
        super().__init__(device)
        weights_path = Path(weights or WEIGHTS)
        state, config = load_checkpoint(weights_path, device)
        self.heads = FashionNetHeads(FashionNetConfig(**config["model"]))
        self.heads.load_state_dict(state)
        self.heads.to(device).eval()
        heads = with_int8_layers(self.heads, convolutions=INT8_CONVOLUTIONS) if int8_enabled(device) else self.heads
        self.precision = "int8" if heads is not self.heads else "float32"
        self._inference = TracedInference(FashionNetInference(heads))
        self.category_names: list[str] = config.get("category_names") or []
        self.attribute_names: list[str] = config.get("attribute_names") or []
        self.category_garment_types: list[str] = config.get("category_garment_types") or []

    def compute_features(self, crops: GarmentCrops) -> Any:
        return encode_canvases(crops.canvases, self.device)

    @torch.inference_mode()
    def extract_crops(
        self, crops: GarmentCrops, landmarks: Sequence[Landmarks], features: Any = None
    ) -> list[Embedding]:
        if len(crops) == 0:
            return []
        if len(landmarks) != len(crops):
            raise ValueError(f"{len(crops)} crops but {len(landmarks)} landmark sets: give one per crop")
        features = features if features is not None else self.compute_features(crops)
        features = {k: v.to(self.device, torch.float32) for k, v in features.items()}
        points = np.stack([t.to_normalised(l.points) for t, l in zip(crops.letterboxes, landmarks)])
        visible = np.stack([l.visibility == Visibility.VISIBLE for l in landmarks])
        types = torch.tensor([GARMENT_TYPES.index(t) for t in crops.garment_types], device=self.device)
        embedding, category_logits, attribute_logits = self._inference(
            features["s8"], features["s16"], features["s32"],
            torch.from_numpy(points).to(self.device), torch.from_numpy(visible).to(self.device), types,
        )
        vectors = embedding.cpu().numpy().astype(np.float32)
        categories = category_logits.softmax(-1).cpu().numpy()
        attributes = attribute_logits.sigmoid().cpu().numpy()
        return [self._embedding(vectors[i], categories[i], attributes[i]) for i in range(len(crops))]

    def _embedding(self, vector: np.ndarray, category_probs: np.ndarray, attribute_probs: np.ndarray) -> Embedding:
        names = self.category_names or [f"category_{i}" for i in range(len(category_probs))]
        scores = {name: float(p) for name, p in zip(names, category_probs)}
        attribute_names = self.attribute_names or [f"attribute_{i}" for i in range(len(attribute_probs))]
        attribute_scores = {n: float(p) for n, p in zip(attribute_names, attribute_probs)}
        attributes = {n: p for n, p in attribute_scores.items() if p >= ATTRIBUTE_THRESHOLD}
        type_scores: dict[str, float] = {}
        for garment_type, p in zip(self.category_garment_types, category_probs):
            type_scores[garment_type] = type_scores.get(garment_type, 0.0) + float(p)
        return Embedding(
            vector=vector,
            model=self.info.key,
            category=max(scores, key=scores.get) if scores else None,
            category_scores=scores,
            attributes=dict(sorted(attributes.items(), key=lambda kv: -kv[1])),
            attribute_scores=attribute_scores,
            garment_type_scores=type_scores,
        )
