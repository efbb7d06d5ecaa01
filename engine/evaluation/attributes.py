"""Category and attribute scores as the DeepFashion paper reports them (pure numpy).

Category, top-k accuracy: an image counts as correct at k when its labelled
category is among the k categories with the highest predicted scores; the
accuracy is the share of correct images (ties broken towards the lower
category index; a category the model has no score for, NaN or -inf,
is never among its top k).

Attributes, top-k recall: for each image, the k attributes with the highest
predicted scores are "retrieved"; recall at k is

    sum over images of |retrieved_k(image) & positives(image)|
    ---------------------------------------------------------
              sum over images of |positives(image)|

i.e. the share of all ground-truth positive attribute labels of the set that
are retrieved in their image's top k (pooled over the set, not averaged per
image, so images with many attributes weigh more; images without a positive
attribute add nothing to either sum). An attribute the model has no score
for (NaN or -inf) is never retrieved.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, min(k, C)) column indices of the k highest scores per row, best first; NaN ranks last."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2:
        raise ValueError(f"expected (images, classes) scores, got shape {scores.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    ordered = np.where(np.isnan(scores), -np.inf, scores)
    return np.argsort(-ordered, axis=1, kind="stable")[:, :k]


def category_top_k_accuracy(scores: np.ndarray, labels: Sequence[int], ks: Sequence[int] = (3, 5)) -> dict[str, float]:
    """{"category_top3": ..., "category_top5": ...}: share of images whose labelled category is in the top k."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, np.int64)
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} score rows but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("category accuracy needs at least one labelled image")
    out = {}
    for k in ks:
        top = top_k_indices(scores, k)
        hit = (top == labels[:, None]) & np.take_along_axis(_scored(scores), top, axis=1)
        out[f"category_top{k}"] = float(hit.any(axis=1).mean())
    return out


def attribute_top_k_recall(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (3, 5)) -> dict[str, float]:
    """{"attribute_top3": ..., "attribute_top5": ...}: pooled recall of the positive labels (module docstring)."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels) > 0
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must both be (images, attributes)")
    positives = int(labels.sum())
    if positives == 0:
        raise ValueError("attribute recall needs at least one positive attribute label")
    out = {}
    for k in ks:
        top = top_k_indices(scores, k)
        retrieved = np.take_along_axis(labels & _scored(scores), top, axis=1)
        out[f"attribute_top{k}"] = float(retrieved.sum() / positives)
    return out


def _scored(scores: np.ndarray) -> np.ndarray:
    """Where the model gave a score at all (NaN and -inf: no score, never retrieved)."""
    return ~np.isnan(scores) & (scores > -np.inf)


def score_matrix(score_dicts: Sequence[Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    """(N, len(names)) scores from per-image {name: score} dicts; names an image lacks are NaN (never retrieved)."""
    out = np.full((len(score_dicts), len(names)), np.nan)
    column = {name: j for j, name in enumerate(names)}
    for i, scores in enumerate(score_dicts):
        for name, value in scores.items():
            if name in column:
                out[i, column[name]] = float(value)
    return out
