"""An example StreetShop extractor: a colour histogram of the garment, weighted around its landmarks.

It shows the whole plugin contract in one small class:

- a class attribute ``info`` (``PluginInfo``) that declares the name, version,
  role, input size, embedding dimension and metric, and the weights file
  (none here: a histogram needs no training);
- the batched method of the role, ``extract_crops``: the engine hands it the
  garments already cut from the photo and letterboxed to ``info.input_size``,
  plus their landmarks in photo pixels; it returns one L2-normalised float32
  ``Embedding`` per garment.

The embedding is two HSV histograms (8 hue x 4 saturation x 4 value bins)
over the garment: one of the whole garment, one weighted by Gaussians around
its landmarks (visible ones count fully, occluded ones half), so colours at
the collar, sleeves and hem weigh more. Each histogram is normalised and
square-rooted (the Hellinger kernel, which suits cosine similarity), and the
two are concatenated into 256 values and L2-normalised.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from engine.contracts import Extractor, GarmentCrops, PluginInfo, Role
from engine.geometry import Letterbox
from engine.types import Embedding, Landmarks, Visibility

__all__ = ["ColorHistogramExtractor"]

HUE_BINS, SATURATION_BINS, VALUE_BINS = 8, 4, 4
HISTOGRAM_SIZE = HUE_BINS * SATURATION_BINS * VALUE_BINS  # 128
#: How much a landmark counts by visibility; absent landmarks count nothing.
LANDMARK_WEIGHTS = {Visibility.VISIBLE: 1.0, Visibility.OCCLUDED: 0.5}


class ColorHistogramExtractor(Extractor):
    info = PluginInfo(
        name="color_histogram",  # must equal the entry point's name in pyproject.toml
        version="1.0",
        role=Role.EXTRACTOR,
        description="HSV colour histogram of the garment plus one weighted around its landmarks",
        input_size=128,
        embedding_dim=2 * HISTOGRAM_SIZE,
        metric="cosine",
        weights_file=None,  # nothing to load; a trained plugin names its file and its sha256 here
        devices=("cpu", "cuda"),  # numpy only: on a GPU worker it still computes on the CPU
    )

    def extract_crops(
        self, crops: GarmentCrops, landmarks: Sequence[Landmarks], features: Any = None
    ) -> list[Embedding]:
        return [
            Embedding(self._embed(canvas, letterbox, garment_landmarks), model=self.info.key)
            for canvas, letterbox, garment_landmarks in zip(crops.canvases, crops.letterboxes, landmarks)
        ]

    def _embed(self, canvas: np.ndarray, letterbox: Letterbox, landmarks: Landmarks | None) -> np.ndarray:
        bins = _hsv_bins(canvas)
        garment = _content_mask(letterbox)  # the crop without its letterbox padding
        around_landmarks = garment * _landmark_weights(letterbox, landmarks)
        if around_landmarks.sum() <= 1e-6:  # no landmarks: both halves describe the whole garment
            around_landmarks = garment
        vector = np.concatenate([_histogram(bins, garment), _histogram(bins, around_landmarks)])
        return (vector / np.linalg.norm(vector)).astype(np.float32)


def _hsv_bins(canvas: np.ndarray) -> np.ndarray:
    """The histogram bin (0..127) of every pixel of an RGB uint8 canvas."""
    hsv = np.asarray(Image.fromarray(canvas).convert("HSV"), dtype=np.int64)
    hue = hsv[..., 0] * HUE_BINS // 256
    saturation = hsv[..., 1] * SATURATION_BINS // 256
    value = hsv[..., 2] * VALUE_BINS // 256
    return (hue * SATURATION_BINS + saturation) * VALUE_BINS + value


def _content_mask(letterbox: Letterbox) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v)) for v in letterbox.content_rect())
    mask = np.zeros((letterbox.size, letterbox.size), np.float64)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def _landmark_weights(letterbox: Letterbox, landmarks: Landmarks | None) -> np.ndarray:
    """A sum of Gaussian bumps (sigma = 1/8 of the canvas) at the landmarks' canvas positions."""
    size = letterbox.size
    weights = np.zeros((size, size), np.float64)
    if landmarks is None:
        return weights
    ys, xs = np.mgrid[0:size, 0:size]
    sigma = size / 8
    for (x, y), visibility in zip(letterbox.to_canvas(landmarks.points), landmarks.visibility):
        weight = LANDMARK_WEIGHTS.get(Visibility(int(visibility)), 0.0)
        if weight:
            weights += weight * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return weights


def _histogram(bins: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted histogram, normalised to sum 1 and square-rooted (Hellinger)."""
    counts = np.bincount(bins.ravel(), weights=weights.ravel(), minlength=HISTOGRAM_SIZE)
    total = counts.sum()
    if total <= 0:
        counts, total = np.ones(HISTOGRAM_SIZE), float(HISTOGRAM_SIZE)
    return np.sqrt(counts / total)
