"""Landmark scores as DeepFashion's FLD / DFA papers define them (pure numpy).

Normalised error (NE), one number per image::

    d_i = || ((x_i - x*_i) / w, (y_i - y*_i) / h) ||_2      for each slot i
    NE  = mean of d_i over the slots whose ground truth is VISIBLE

with (x, y) the prediction, (x*, y*) the label, both in photo pixels, and
(w, h) the width and height of the garment crop (its box). Occluded and
absent slots neither add error nor count in the mean; an image without any
visible slot has no NE (NaN) and is left out of every mean below.

- overall NE: the mean of the per-image NEs;
- NE per slot: the mean of d_i over the images where slot i is visible;
- NE per garment type / per variation type: the overall NE over the images of
  that type (FLD's variation codes: 1 normal, 2 medium pose, 3 large pose,
  4 medium zoom-in, 5 large zoom-in).

Detection rate at d pixels: the fraction of all visible ground-truth
landmarks (of every image) whose prediction lies within d photo pixels
(Euclidean, ``<=``), for d = 0, 1, ..., 20 by default.

Arrays: predicted and target points (N, 8, 2) in photo pixels, LANDMARK_SLOTS
order; visible (N, 8) bool (or FLD visibility codes, of which 0 is visible);
sizes (N, 2) crop (width, height).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.types import LANDMARK_SLOTS, NUM_SLOTS, GarmentType, Visibility

#: FLD's variation_type codes.
VARIATION_NAMES: dict[int, str] = {
    1: "normal",
    2: "medium pose",
    3: "large pose",
    4: "medium zoom-in",
    5: "large zoom-in",
}

#: Pixel thresholds of the detection-rate curve.
DEFAULT_THRESHOLDS = tuple(range(21))


def visible_mask(visibility: np.ndarray) -> np.ndarray:
    """A bool mask from bools, or from FLD visibility codes (0 visible, 1 occluded, 2 absent)."""
    visibility = np.asarray(visibility)
    if visibility.dtype == bool:
        return visibility
    return visibility == Visibility.VISIBLE


def slot_distances(predicted: np.ndarray, target: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
    """(N, 8) L2 distance per slot; in pixels, or with x divided by width and y by height when ``sizes`` is given."""
    diff = np.asarray(predicted, np.float64).reshape(-1, NUM_SLOTS, 2) - np.asarray(target, np.float64).reshape(
        -1, NUM_SLOTS, 2
    )
    if sizes is not None:
        sizes = np.asarray(sizes, np.float64).reshape(-1, 1, 2)
        if np.any(sizes <= 0):
            raise ValueError("crop sizes must be positive (width, height) pairs")
        diff = diff / sizes
    return np.linalg.norm(diff, axis=-1)


def per_image_ne(predicted: np.ndarray, target: np.ndarray, visible: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(N,) DFA NE of each image: mean normalised distance over its visible slots; NaN when none is visible."""
    visible = visible_mask(visible).reshape(-1, NUM_SLOTS)
    distances = slot_distances(predicted, target, sizes)
    counts = visible.sum(axis=1)
    sums = np.where(visible, distances, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def mean_ne(per_image: np.ndarray) -> float:
    """Mean over the images that have an NE (at least one visible slot); NaN if none has."""
    per_image = np.asarray(per_image, np.float64)
    kept = per_image[~np.isnan(per_image)]
    return float(kept.mean()) if kept.size else float("nan")


def per_slot_ne(predicted: np.ndarray, target: np.ndarray, visible: np.ndarray, sizes: np.ndarray) -> dict[str, float]:
    """Slot name -> mean normalised distance over the images where that slot is visible (NaN if nowhere)."""
    visible = visible_mask(visible).reshape(-1, NUM_SLOTS)
    distances = slot_distances(predicted, target, sizes)
    out = {}
    for i, name in enumerate(LANDMARK_SLOTS):
        values = distances[visible[:, i], i]
        out[name] = float(values.mean()) if values.size else float("nan")
    return out


def grouped_ne(per_image: np.ndarray, groups: Sequence) -> dict:
    """Group value -> mean NE of its images (images without an NE skipped), in order of first appearance."""
    per_image = np.asarray(per_image, np.float64)
    keys = list(groups)
    if len(keys) != len(per_image):
        raise ValueError(f"{len(per_image)} images but {len(keys)} group labels")
    out = {}
    for key in dict.fromkeys(keys):
        out[key] = mean_ne(per_image[[k == key for k in keys]])
    return out


def detection_rate_curve(
    predicted: np.ndarray,
    target: np.ndarray,
    visible: np.ndarray,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> np.ndarray:
    """Fraction of visible landmarks within each threshold (photo pixels, ``distance <= d``); NaN if none visible."""
    visible = visible_mask(visible).reshape(-1, NUM_SLOTS)
    distances = slot_distances(predicted, target)[visible]
    thresholds = np.asarray(thresholds, np.float64)
    if distances.size == 0:
        return np.full(len(thresholds), np.nan)
    return (distances[None, :] <= thresholds[:, None]).mean(axis=1)


@dataclass
class LandmarkScores:
    """Every landmark figure of one evaluation (see the module docstring for the definitions)."""

    per_image: np.ndarray  # (N,) NE, NaN for images with no visible slot
    ne: float
    per_slot: dict[str, float]
    per_type: dict[str, float]
    per_variation: dict[str, float]
    thresholds: np.ndarray
    detection_rate: np.ndarray
    images: int  # images given
    scored_images: int  # images with at least one visible slot
    visible_landmarks: int
    type_counts: dict[str, int] = field(default_factory=dict)
    variation_counts: dict[str, int] = field(default_factory=dict)
    slot_counts: dict[str, int] = field(default_factory=dict)


def score_landmarks(
    predicted: np.ndarray,
    target: np.ndarray,
    visible: np.ndarray,
    sizes: np.ndarray,
    garment_types: Sequence | None = None,
    variations: Sequence[int] | None = None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> LandmarkScores:
    """NE overall, per slot, per garment type and per variation type, and the detection-rate curve."""
    predicted = np.asarray(predicted, np.float64).reshape(-1, NUM_SLOTS, 2)
    target = np.asarray(target, np.float64).reshape(-1, NUM_SLOTS, 2)
    visible = visible_mask(visible).reshape(-1, NUM_SLOTS)
    sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
    n = len(predicted)
    if not (len(target) == len(visible) == len(sizes) == n):
        raise ValueError(
            f"predicted ({n}), target ({len(target)}), visible ({len(visible)}) and sizes ({len(sizes)}) must agree"
        )
    per_image = per_image_ne(predicted, target, visible, sizes)
    scored = ~np.isnan(per_image)
    per_type, type_counts = {}, {}
    if garment_types is not None:
        names = [GarmentType.parse(t).value for t in garment_types]
        per_type = grouped_ne(per_image, names)
        order = [t.value for t in GarmentType if t.value in per_type]
        per_type = {t: per_type[t] for t in order}
        type_counts = {t: int(sum(1 for name, s in zip(names, scored) if name == t and s)) for t in order}
    per_variation, variation_counts = {}, {}
    if variations is not None:
        codes = [int(v) for v in variations]
        by_code = grouped_ne(per_image, codes)
        for code in sorted(by_code):
            name = variation_name(code)
            per_variation[name] = by_code[code]
            variation_counts[name] = int(sum(1 for c, s in zip(codes, scored) if c == code and s))
    return LandmarkScores(
        per_image=per_image,
        ne=mean_ne(per_image),
        per_slot=per_slot_ne(predicted, target, visible, sizes),
        per_type=per_type,
        per_variation=per_variation,
        thresholds=np.asarray(thresholds, np.float64),
        detection_rate=detection_rate_curve(predicted, target, visible, thresholds),
        images=n,
        scored_images=int(scored.sum()),
        visible_landmarks=int(visible.sum()),
        type_counts=type_counts,
        variation_counts=variation_counts,
        slot_counts={name: int(visible[:, i].sum()) for i, name in enumerate(LANDMARK_SLOTS)},
    )


def variation_name(code: int) -> str:
    return VARIATION_NAMES.get(int(code), f"variation {int(code)}")
