"""Aligner evaluation through the plugin itself (the inference path users get).

NE follows DFA (engine.evaluation.landmarks holds the one definition): per
garment, the mean over its visible landmarks of the L2 distance between
prediction and label, x divided by the crop's width and y by its height; then
the mean over garments that have a visible landmark. Visibility accuracy
counts the slots the garment type has.

``predict_landmarks`` runs the aligner and keeps every prediction (for
reports); ``evaluate_aligner`` = ``predict_landmarks`` + ``aligner_metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from engine.contracts import Aligner, GarmentCrops
from engine.data.deepfashion import LandmarkRecord
from engine.data.sources import crop_box
from engine.evaluation.landmarks import mean_ne, per_image_ne
from engine.imageio import load_image
from engine.types import Box, Detection, GarmentType, Visibility, slot_mask


@dataclass
class AlignerPredictions:
    """The aligner's answers on N labelled garments, beside their labels (photo pixels).

    stage_points (S, N, 8, 2): each cascade stage's estimate (S = 1 without a cascade);
    points (N, 8, 2) is the last stage. sizes (N, 2): the crop box's width, height.
    """

    records: list[LandmarkRecord]
    stage_points: np.ndarray
    visibility: np.ndarray  # (N, 8) predicted FLD codes
    boxes: list[Box]

    @property
    def points(self) -> np.ndarray:
        return self.stage_points[-1]

    @property
    def target(self) -> np.ndarray:
        return np.stack([r.points for r in self.records]) if self.records else np.zeros((0, 8, 2), np.float32)

    @property
    def target_visibility(self) -> np.ndarray:
        return np.stack([r.visibility for r in self.records]) if self.records else np.zeros((0, 8), np.int64)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([(b.width, b.height) for b in self.boxes], np.float64).reshape(-1, 2)

    @property
    def garment_types(self) -> list[GarmentType]:
        return [r.garment_type for r in self.records]

    @property
    def variations(self) -> list[int]:
        return [int(r.variation) for r in self.records]

    @property
    def image_paths(self) -> list[Path]:
        return [r.image_path for r in self.records]


def predict_landmarks(
    aligner: Aligner,
    records: Sequence[LandmarkRecord],
    batch_size: int = 32,
    use_joints: bool = False,
    progress: bool = True,
) -> AlignerPredictions:
    """Run ``aligner`` on each record's labelled crop and keep its points per stage and visibility."""
    records = list(records)
    stages: list[np.ndarray] = []  # per garment: (S, 8, 2)
    visibility, boxes = [], []
    for start in tqdm(range(0, len(records), batch_size), desc="evaluate", unit="batch", disable=not progress):
        chunk = records[start : start + batch_size]
        crops = label_crops(chunk, use_joints)
        for landmarks, transform in zip(aligner.align_crops(crops), crops.letterboxes):
            points = landmarks.stage_points if landmarks.stage_points is not None else landmarks.points[None]
            stages.append(np.asarray(points, np.float32).reshape(-1, 8, 2))
            visibility.append(np.asarray(landmarks.visibility, np.int64))
            boxes.append(transform.box)
    if stages and len({s.shape[0] for s in stages}) != 1:
        raise ValueError(f"{aligner.info.key} returned a different number of cascade stages for different garments")
    stage_points = np.stack(stages, axis=1) if stages else np.zeros((1, 0, 8, 2), np.float32)
    return AlignerPredictions(
        records=records,
        stage_points=stage_points,
        visibility=np.stack(visibility) if visibility else np.zeros((0, 8), np.int64),
        boxes=boxes,
    )


def aligner_metrics(predictions: AlignerPredictions) -> dict:
    """NE per cascade stage, per garment type, and visibility accuracy (the ``evaluate aligner`` figures)."""
    target, sizes = predictions.target, predictions.sizes
    visible = predictions.target_visibility == Visibility.VISIBLE
    result = {}
    for s, points in enumerate(predictions.stage_points):
        result[f"ne_stage{s + 1}"] = _round(mean_ne(per_image_ne(points, target, visible, sizes)))
    result["ne"] = result[f"ne_stage{len(predictions.stage_points)}"]
    last = per_image_ne(predictions.points, target, visible, sizes)
    types = np.array([t.value for t in predictions.garment_types])
    for garment_type in GarmentType:
        chosen = types == garment_type.value
        if chosen.any():
            result[f"ne_{garment_type.value}"] = _round(mean_ne(last[chosen]))
    result["visibility_accuracy"] = round(visibility_accuracy(predictions), 5)
    result["garments"] = len(predictions.records)
    return result


def visibility_accuracy(predictions: AlignerPredictions) -> float:
    """Share of the slots the garment types have whose visibility code the aligner got right."""
    has_slot = np.stack([slot_mask(t) for t in predictions.garment_types]) if predictions.records else np.zeros((0, 8), bool)
    correct = (predictions.visibility == predictions.target_visibility) & has_slot
    return float(correct.sum() / max(int(has_slot.sum()), 1))


def evaluate_aligner(
    aligner: Aligner,
    records: Sequence[LandmarkRecord],
    batch_size: int = 32,
    use_joints: bool = False,
    progress: bool = True,
) -> dict:
    """NE per cascade stage, per garment type, and visibility accuracy over ``records``."""
    return aligner_metrics(predict_landmarks(aligner, records, batch_size, use_joints, progress))


def label_crops(records: Sequence, use_joints: bool = False) -> GarmentCrops:
    """The labelled garments as crops, each cut at its record's box (with its joints, if asked)."""
    parts = []
    for record in records:
        image = load_image(record.image_path)
        joints = getattr(record, "joints", None) if use_joints else None
        parts.append(GarmentCrops.from_detections(image, [Detection(crop_box(record, image), record.garment_type, 1.0, joints)]))
    return GarmentCrops.concat(parts)


def _round(value: float) -> float:
    return round(value, 5) if not np.isnan(value) else float("nan")
