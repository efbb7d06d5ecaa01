"""Geometry shared by every model: the DFA letterbox and point mapping.

A garment crop is the detection box cut from the photo and letterboxed to a
square canvas (longest side = canvas size, centred, zero padding), as DFA
does. ``Letterbox`` remembers the mapping so landmarks predicted on the canvas
go back to photo pixels, and labels in photo pixels go onto the canvas.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.types import Box

CANVAS_SIZE = 224


@dataclass(frozen=True)
class Letterbox:
    """Maps photo pixels to canvas pixels: canvas = (photo - box origin) * scale + offset."""

    box: Box
    scale: float
    offset_x: float
    offset_y: float
    size: int = CANVAS_SIZE

    @classmethod
    def for_box(cls, box: Box, size: int = CANVAS_SIZE) -> "Letterbox":
        scale = size / max(box.width, box.height)
        offset_x = (size - box.width * scale) / 2
        offset_y = (size - box.height * scale) / 2
        return cls(box, scale, offset_x, offset_y, size)

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float32)
        out = np.empty_like(points)
        out[..., 0] = (points[..., 0] - self.box.x0) * self.scale + self.offset_x
        out[..., 1] = (points[..., 1] - self.box.y0) * self.scale + self.offset_y
        return out

    def to_image(self, canvas_points: np.ndarray) -> np.ndarray:
        canvas_points = np.asarray(canvas_points, dtype=np.float32)
        out = np.empty_like(canvas_points)
        out[..., 0] = (canvas_points[..., 0] - self.offset_x) / self.scale + self.box.x0
        out[..., 1] = (canvas_points[..., 1] - self.offset_y) / self.scale + self.box.y0
        return out

    def to_normalised(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels -> canvas coordinates in [0, 1] (what the networks predict)."""
        return self.to_canvas(points) / self.size

    def from_normalised(self, normalised: np.ndarray) -> np.ndarray:
        return self.to_image(np.asarray(normalised, dtype=np.float32) * self.size)

    def content_rect(self) -> tuple[float, float, float, float]:
        """The part of the canvas that holds the photo (not padding): x0, y0, x1, y1."""
        return (self.offset_x, self.offset_y, self.size - self.offset_x, self.size - self.offset_y)


def letterbox(image: np.ndarray, box: Box, size: int = CANVAS_SIZE) -> tuple[np.ndarray, Letterbox]:
    """Cut ``box`` from an RGB uint8 image and letterbox it to ``size`` x ``size``.

    Parts of the box outside the photo are zero, like the padding, so a box
    that runs off the photo keeps its geometry.
    """
    transform = Letterbox.for_box(box, size)
    pil = Image.fromarray(image)
    # Affine from canvas to photo: photo = (canvas - offset) / scale + origin.
    inv = 1.0 / transform.scale
    coeffs = (inv, 0.0, box.x0 - transform.offset_x * inv, 0.0, inv, box.y0 - transform.offset_y * inv)
    canvas = pil.transform((size, size), Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=(0, 0, 0))
    canvas_array = np.asarray(canvas)
    # Zero whatever the affine drew outside the box's content area (neighbouring pixels of the photo).
    x0, y0, x1, y1 = transform.content_rect()
    mask = np.zeros((size, size), dtype=bool)
    mask[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
    return np.where(mask[..., None], canvas_array, 0).astype(np.uint8), transform


def normalised_error(predicted: np.ndarray, target: np.ndarray, visible: np.ndarray, width: float, height: float) -> float:
    """DFA's NE for one garment: mean L2 distance over visible slots, coordinates divided by crop width/height."""
    visible = np.asarray(visible, dtype=bool)
    if not visible.any():
        return float("nan")
    scale = np.array([width, height], dtype=np.float64)
    diff = (np.asarray(predicted, np.float64) - np.asarray(target, np.float64)) / scale
    return float(np.linalg.norm(diff[visible], axis=-1).mean())


def photo_edges(box: Box, width: int, height: int, tolerance: float = 1.0) -> np.ndarray:
    """Which sides of the photo the crop box reaches: (left, top, right, bottom) as 0/1 floats.

    A garment corner at the crop's edge is cut off when that edge is the photo's
    edge, and merely close when the box has room around it; the aligner's
    visibility head is told which.
    """
    return np.array(
        [box.x0 <= tolerance, box.y0 <= tolerance, box.x1 >= width - tolerance, box.y1 >= height - tolerance],
        np.float32,
    )
