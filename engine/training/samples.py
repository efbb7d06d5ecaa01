"""Annotated garments -> letterboxed canvases and normalised targets, with augmentation.

Training and evaluation both go through ``make_sample``, so a model is always
scored on crops made exactly the way it was trained (and the way the plugins
crop at inference: engine.geometry.letterbox).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from engine.data.sources import crop_box
from engine.geometry import CANVAS_SIZE, letterbox, photo_edges
from engine.imageio import load_image
from engine.types import (
    GARMENT_TYPES,
    MIRROR_JOINTS,
    MIRROR_SLOTS,
    NUM_JOINTS,
    NUM_SLOTS,
    Box,
    GarmentType,
    Visibility,
    slot_mask,
)

#: Slot (joint) i <-> FLIP_SLOTS[i] (FLIP_JOINTS[i]) when the image is mirrored.
FLIP_SLOTS = np.array(MIRROR_SLOTS)
FLIP_JOINTS = np.array(MIRROR_JOINTS)


@dataclass
class Sample:
    """One training/evaluation example on the canvas."""

    canvas: np.ndarray  # (S, S, 3) uint8
    points: np.ndarray  # (8, 2) normalised canvas coordinates
    visibility: np.ndarray  # (8,) Visibility codes
    garment_type: int  # index into GARMENT_TYPES
    joints: np.ndarray  # (14, 3) normalised x, y, confidence (zeros when unknown)
    box: Box  # the crop box in photo pixels (NE is normalised by its size)
    edges: np.ndarray  # (4,) the photo sides the box reaches (geometry.photo_edges), on the canvas's sides


@dataclass
class Augmentation:
    box_jitter: float = 0.0  # max relative shift of each box edge
    box_grow: tuple[float, float] = (0.0, 0.0)  # relative margin added around the box (min, max)
    rotation_deg: float = 0.0
    flip: bool = False
    photometric: bool = False

    @classmethod
    def training(cls) -> "Augmentation":
        return cls(box_jitter=0.06, box_grow=(0.0, 0.2), rotation_deg=12.0, flip=True, photometric=True)


def make_sample(
    image: np.ndarray,
    box: Box,
    garment_type: GarmentType,
    points: np.ndarray,
    visibility: np.ndarray,
    joints: np.ndarray | None = None,
    augmentation: Augmentation | None = None,
    rng: np.random.Generator | None = None,
) -> Sample:
    """Crop ``box`` from ``image`` (optionally augmented) and express labels on the canvas."""
    aug = augmentation or Augmentation()
    rng = rng or np.random.default_rng(0)
    visibility = np.asarray(visibility, np.int64).copy()
    if aug.box_jitter or aug.box_grow[1]:
        box = _augment_box(box, aug, rng, points[has_slot_labelled(garment_type, visibility)])
    canvas, transform = letterbox(image, box, CANVAS_SIZE)
    edges = photo_edges(box, image.shape[1], image.shape[0])
    canvas_points = transform.to_normalised(points)
    content = tuple(np.array(transform.content_rect()) / transform.size)
    canvas_points, visibility = _cut_off(canvas_points, visibility, garment_type, content)
    canvas_joints = np.zeros((NUM_JOINTS, 3), np.float32)
    if joints is not None:
        canvas_joints[:, :2] = transform.to_normalised(joints[:, :2])
        canvas_joints[:, 2] = joints[:, 2]
    if aug.rotation_deg:
        angle = float(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
        canvas, canvas_points, canvas_joints = _rotate(canvas, canvas_points, canvas_joints, angle)
    if aug.flip and rng.random() < 0.5:
        canvas = np.ascontiguousarray(canvas[:, ::-1])
        canvas_points = canvas_points[FLIP_SLOTS].copy()
        canvas_points[:, 0] = 1.0 - canvas_points[:, 0]
        visibility = visibility[FLIP_SLOTS]
        canvas_joints = canvas_joints[FLIP_JOINTS].copy()
        canvas_joints[:, 0] = 1.0 - canvas_joints[:, 0]
        edges = edges[[2, 1, 0, 3]]  # left and right swap sides
    if aug.photometric:
        canvas = _photometric(canvas, rng)
    # Slots pushed off the canvas (rotation) become ABSENT on its edge, as the real labels put them.
    canvas_points, visibility = _cut_off(canvas_points, visibility, garment_type, (0.0, 0.0, 1.0, 1.0))
    canvas_points = np.clip(canvas_points, 0.0, 1.0)
    visibility[~slot_mask(garment_type)] = Visibility.ABSENT
    return Sample(canvas, canvas_points.astype(np.float32), visibility, GARMENT_TYPES.index(garment_type), canvas_joints,
                  box, edges)


def record_samples(
    records: Iterable,
    copies: int,
    augmentation: Augmentation | None,
    rng: np.random.Generator,
    use_joints: bool = True,
    progress: bool = True,
    desc: str = "images",
) -> Iterator[tuple[object, Sample]]:
    """Each labelled record's photo loaded once and cropped ``copies`` times: (record, sample)."""
    for record in tqdm(records, desc=desc, unit="img", disable=not progress):
        image = load_image(record.image_path)
        box = crop_box(record, image)
        joints = record.joints if use_joints else None
        for _ in range(copies):
            yield record, make_sample(
                image, box, record.garment_type, record.points, record.visibility, joints, augmentation, rng
            )


def noisy_joints(joints: np.ndarray, rng: np.random.Generator, drop_all: float = 0.5, sigma: float = 0.02) -> np.ndarray:
    """Detector-like joints for training: jitter, random misses, and often none at all."""
    if rng.random() < drop_all:
        return np.zeros_like(joints)
    out = joints.copy()
    out[:, :2] += rng.normal(0, sigma, size=(len(out), 2))
    out[:, 2] *= rng.random(len(out)) > 0.1
    return out


def has_slot_labelled(garment_type: GarmentType, visibility: np.ndarray) -> np.ndarray:
    """Slots of the garment that are in the photo (visible or occluded)."""
    return slot_mask(garment_type) & (np.asarray(visibility) != Visibility.ABSENT)


def _augment_box(box: Box, aug: Augmentation, rng: np.random.Generator, keep: np.ndarray) -> Box:
    """Shift and grow the box like a detector's would be, never cutting off a labelled landmark.

    Cutting one off would turn it ABSENT on the crop's edge, and teach the network that a
    garment corner on a tight box's edge is cut off: the opposite of what tight boxes show.
    """
    grow = rng.uniform(*aug.box_grow)
    w, h = box.width, box.height
    jitter = rng.uniform(-aug.box_jitter, aug.box_jitter, size=4) * np.array([w, h, w, h])
    x0, y0, x1, y1 = np.array(box.as_tuple()) + jitter + np.array([-w, -h, w, h]) * grow / 2
    if len(keep):
        margin = 0.02 * max(w, h)
        x0, y0 = min(x0, keep[:, 0].min() - margin), min(y0, keep[:, 1].min() - margin)
        x1, y1 = max(x1, keep[:, 0].max() + margin), max(y1, keep[:, 1].max() + margin)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return box
    return Box(float(x0), float(y0), float(x1), float(y1))


def _rotate(canvas: np.ndarray, points: np.ndarray, joints: np.ndarray, angle_deg: float):
    rotated = np.asarray(Image.fromarray(canvas).rotate(angle_deg, resample=Image.BILINEAR, fillcolor=(0, 0, 0)))
    # PIL rotates counter-clockwise on screen; in y-down coordinates that is this matrix.
    theta = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]], np.float32)
    centre = np.array([0.5, 0.5], np.float32)
    new_points = (points - centre) @ rotation.T + centre
    new_joints = joints.copy()
    new_joints[:, :2] = (joints[:, :2] - centre) @ rotation.T + centre
    return rotated, new_points, new_joints


def _photometric(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = canvas.astype(np.float32)
    x = x * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)  # contrast, brightness
    x = x * rng.uniform(0.9, 1.1, size=3)  # colour cast
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.7, 1.3)  # saturation
    return np.clip(x, 0, 255).astype(np.uint8)


def _cut_off(points: np.ndarray, visibility: np.ndarray, garment_type: GarmentType, rect: tuple):
    """Labelled slots outside ``rect`` (x0, y0, x1, y1, normalised) become ABSENT on its edge.

    Used for the crop box's content (a slot outside the box is not in the crop: without
    this a cut-off corner would be taught as "visible") and for the canvas after rotation.
    """
    x0, y0, x1, y1 = rect
    outside = (points[:, 0] < x0) | (points[:, 0] > x1) | (points[:, 1] < y0) | (points[:, 1] > y1)
    outside &= slot_mask(garment_type) & (visibility != Visibility.ABSENT)
    if not outside.any():
        return points, visibility
    points, visibility = points.copy(), visibility.copy()
    points[outside, 0] = np.clip(points[outside, 0], x0, x1)
    points[outside, 1] = np.clip(points[outside, 1], y0, y1)
    visibility[outside] = Visibility.ABSENT
    return points, visibility


assert len(FLIP_SLOTS) == NUM_SLOTS and len(FLIP_JOINTS) == NUM_JOINTS
