"""``dfa_vgg16``: the DFA authors' own models, with their pre-processing and decoding (engine.models.dfa_vgg16)."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.contracts import Aligner, GarmentCrops, PluginInfo, Role
from engine.dfa_weights import MANIFEST, default_weights_dir, load_cascade, read_manifest
from engine.models.dfa_vgg16 import DfaCascade, preprocess
from engine.types import SLOT_INDEX, SLOTS_BY_TYPE, Box, GarmentType, Landmarks, NUM_SLOTS, Visibility

WEIGHTS_DIR = default_weights_dir()


def _version(manifest: dict) -> str:
    """1.0 plus a digest of the imported files, so two imports never share a version."""
    shas = sorted(entry["sha256"] for entry in manifest.get("types", {}).values())
    return f"1.0+{hashlib.sha256(''.join(shas).encode()).hexdigest()[:8]}" if shas else "1.0"


@dataclass(frozen=True)
class DfaLetterbox:
    """DFA's crop: the box resized so its longest side is the input size, zero-padded, centred."""

    x0: int
    y0: int
    scale: float
    pad_left: int
    pad_top: int
    size: int

    def to_image(self, normalised: np.ndarray) -> np.ndarray:
        """[-0.5, 0.5] canvas coordinates -> photo pixels (the authors' decoding)."""
        canvas = (np.asarray(normalised, np.float64) + 0.5) * self.size
        x = (canvas[..., 0] - self.pad_left) / self.scale + self.x0
        y = (canvas[..., 1] - self.pad_top) / self.scale + self.y0
        return np.stack([x, y], axis=-1).astype(np.float32)


def dfa_canvas(photo: np.ndarray, box: Box, size: int) -> tuple[np.ndarray, DfaLetterbox]:
    """Cut ``box`` (whole pixels, inside the photo) and letterbox it as the DFA demo does."""
    height, width = photo.shape[:2]
    x0, y0 = max(0, math.floor(box.x0)), max(0, math.floor(box.y0))
    x1, y1 = min(width, math.ceil(box.x1)), min(height, math.ceil(box.y1))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {box} lies outside the {width}x{height} photo")
    crop_w, crop_h = x1 - x0, y1 - y0
    scale = size / max(crop_w, crop_h)
    new_w, new_h = max(1, round(crop_w * scale)), max(1, round(crop_h * scale))
    resized = Image.fromarray(np.ascontiguousarray(photo[y0:y1, x0:x1])).resize((new_w, new_h), Image.BICUBIC)
    pad_left, pad_top = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[pad_top : pad_top + new_h, pad_left : pad_left + new_w] = np.asarray(resized)
    return canvas, DfaLetterbox(x0, y0, scale, pad_left, pad_top, size)


class DfaVgg16Aligner(Aligner):
    info = PluginInfo(
        name="dfa_vgg16",
        version=_version(read_manifest(WEIGHTS_DIR)),
        role=Role.ALIGNER,
        description="The DFA paper's own VGG-16 cascades (FLD_upper / lower / full), imported from the .caffemodel files",
        input_size=224,
        weights_file=str(WEIGHTS_DIR / MANIFEST),
        devices=("cpu", "cuda"),
        weights_help=(
            "the DFA weights are not shipped: import the authors' .caffemodel files with "
            f"'python -m engine import-caffemodel DIR' (or set STREETSHOP_DFA_WEIGHTS to a folder that has them)"
        ),
    )

    def __init__(self, device: str = "cpu", weights: "str | Path | None" = None) -> None:
        super().__init__(device)
        self.weights_dir = Path(weights) if weights else WEIGHTS_DIR
        if self.weights_dir.is_file():  # the manifest itself
            self.weights_dir = self.weights_dir.parent
        self.available = sorted(read_manifest(self.weights_dir).get("types", {}))
        if not self.available:
            raise FileNotFoundError(f"no DFA models in {self.weights_dir}: {self.info.weights_help}")
        self._cascades: dict[str, DfaCascade] = {}

    def cascade(self, garment_type: GarmentType) -> DfaCascade:
        """The clothes type's model, loaded (and checked) on first use: each is ~2 GB."""
        name = garment_type.value
        if name not in self._cascades:
            self._cascades[name] = load_cascade(self.weights_dir, name, self.device)
        return self._cascades[name]

    @torch.inference_mode()
    def align_crops(self, crops: GarmentCrops, features: Any = None) -> list[Landmarks]:
        results: list[Landmarks | None] = [None] * len(crops)
        for garment_type in dict.fromkeys(crops.garment_types):
            indices = [i for i, t in enumerate(crops.garment_types) if t == garment_type]
            model = self.cascade(garment_type)
            canvases, mappings = zip(*(self._canvas(crops, i, model.config.input_size) for i in indices))
            output = model(preprocess(np.stack(canvases)).to(self.device))
            stages = torch.stack(output.stage_landmarks, dim=1).cpu().numpy()  # (B, 3, N, 2)
            probs = output.visibility_logits.softmax(-1).cpu().numpy()  # (B, N, 3)
            for row, i in enumerate(indices):
                results[i] = _landmarks(garment_type, mappings[row](stages[row]), probs[row])
        return results

    @staticmethod
    def _canvas(crops: GarmentCrops, i: int, size: int):
        """The crop as DFA prepares it, and the mapping of its [-0.5, 0.5] outputs back to photo pixels."""
        if crops.photos is not None:
            canvas, letterbox = dfa_canvas(crops.photos[i], crops.detections[i].box, size)
            return canvas, letterbox.to_image
        # No photo (crops made from canvases alone): the project's letterbox is the same up to rounding.
        transform = crops.letterboxes[i]
        canvas = np.asarray(Image.fromarray(crops.canvases[i]).resize((size, size), Image.BICUBIC))
        return canvas, lambda normalised: transform.from_normalised(np.asarray(normalised) + 0.5)


def _landmarks(garment_type: GarmentType, stage_points: np.ndarray, probs: np.ndarray) -> Landmarks:
    """The type's N columns into the engine's eight named slots; slots the type lacks are ABSENT."""
    columns = [SLOT_INDEX[name] for name in SLOTS_BY_TYPE[garment_type]]
    points = np.zeros((stage_points.shape[0], NUM_SLOTS, 2), np.float32)
    points[:, columns] = stage_points
    scores = np.tile(np.array([0.0, 0.0, 1.0], np.float32), (NUM_SLOTS, 1))
    scores[columns] = probs
    visibility = np.full(NUM_SLOTS, int(Visibility.ABSENT), np.int64)
    visibility[columns] = probs.argmax(-1)
    return Landmarks(points=points[-1], visibility=visibility, visibility_scores=scores, stage_points=points)
