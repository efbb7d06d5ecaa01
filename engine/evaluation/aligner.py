"""Aligner evaluation through the plugin itself (the inference path users get).

NE follows DFA: per garment, the mean over its visible landmarks of the L2
distance between prediction and label, x divided by the crop's width and y by
its height; then the mean over garments. Visibility accuracy counts the slots
the garment type has.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm import tqdm

from engine.contracts import Aligner, GarmentCrops
from engine.data.deepfashion import LandmarkRecord
from engine.data.sources import crop_box
from engine.geometry import normalised_error
from engine.imageio import load_image
from engine.types import Detection, GarmentType, Visibility, slot_mask


def evaluate_aligner(
    aligner: Aligner,
    records: Sequence[LandmarkRecord],
    batch_size: int = 32,
    use_joints: bool = False,
    progress: bool = True,
) -> dict:
    """NE per cascade stage, per garment type, and visibility accuracy over ``records``."""
    stage_errors: list[list[float]] = []
    per_type: dict[str, list[float]] = {t.value: [] for t in GarmentType}
    correct = total = 0
    for start in tqdm(range(0, len(records), batch_size), desc="evaluate", unit="batch", disable=not progress):
        chunk = records[start : start + batch_size]
        crops = label_crops(chunk, use_joints)
        for record, landmarks, transform in zip(chunk, aligner.align_crops(crops), crops.letterboxes):
            visible = record.visibility == Visibility.VISIBLE
            stages = landmarks.stage_points if landmarks.stage_points is not None else landmarks.points[None]
            for s, points in enumerate(stages):
                if len(stage_errors) <= s:
                    stage_errors.append([])
                box = transform.box
                stage_errors[s].append(normalised_error(points, record.points, visible, box.width, box.height))
            per_type[record.garment_type.value].append(stage_errors[-1][-1])
            has_slot = slot_mask(record.garment_type)
            correct += int((landmarks.visibility == record.visibility)[has_slot].sum())
            total += int(has_slot.sum())
    result = {f"ne_stage{s + 1}": _mean(errors) for s, errors in enumerate(stage_errors)}
    result["ne"] = result[f"ne_stage{len(stage_errors)}"]
    result.update({f"ne_{name}": _mean(errors) for name, errors in per_type.items() if errors})
    result["visibility_accuracy"] = round(correct / max(total, 1), 5)
    result["garments"] = len(records)
    return result


def label_crops(records: Sequence, use_joints: bool = False) -> GarmentCrops:
    """The labelled garments as crops, each cut at its record's box (with its joints, if asked)."""
    parts = []
    for record in records:
        image = load_image(record.image_path)
        joints = getattr(record, "joints", None) if use_joints else None
        parts.append(GarmentCrops.from_detections(image, [Detection(crop_box(record, image), record.garment_type, 1.0, joints)]))
    return GarmentCrops.concat(parts)


def _mean(values: list[float]) -> float:
    values = [v for v in values if not np.isnan(v)]
    return round(float(np.mean(values)), 5) if values else float("nan")
