"""The ``full_image`` detector: one garment per photo, covering the whole photo.

For shop photos and flat-lays, where the photo *is* the garment. A plain,
uniform border (the white or grey studio background) is trimmed off, with a
small margin, so the box fits the garment; a photo without such a border keeps
the whole frame.

Garment type: the hint when one is given (score 1.0); otherwise a guess from
the aspect ratio of the (trimmed) box, score 0.5: taller than
``TALL_RATIO`` x its width -> ``full`` (dresses, jumpsuits), else ``upper``
(tops and jackets lie square-ish or wide). Trousers are tall too and get
``full`` by this guess: give a hint for them.
"""
from __future__ import annotations



import numpy as np
from PIL import Image

from engine.contracts import Detector, PluginInfo, Role
from engine.imageio import load_image
from engine.types import Box, Detection, GarmentType

#: Height / width above which an unhinted photo is guessed ``full``.
TALL_RATIO = 1.4
#: Score of a hinted type, and of a type guessed from the aspect ratio.
HINT_SCORE, GUESS_SCORE = 1.0, 0.5
#: A pixel differs from the background when a channel differs by more than this (JPEG noise stays below).
BACKGROUND_TOLERANCE = 24
#: Share of border pixels that must match the background colour for the border to count as plain.
UNIFORM_BORDER_SHARE = 0.9
#: Margin kept around trimmed content, as a share of the image's size.
TRIM_MARGIN = 0.02
#: Trimming is computed on a copy no larger than this (pixels, longest side).
ANALYSIS_SIDE = 512


class FullImageDetector(Detector):
    """The whole photo (less a plain border) as one garment of the hinted or guessed type."""

    info = PluginInfo(
        name="full_image",
        version="1.0",
        role=Role.DETECTOR,
        description=(
            "One detection per photo covering the whole photo, trimmed of a plain uniform border; "
            "garment type from the hint, else guessed from the aspect ratio (tall: full, else upper)."
        ),
        devices=("cpu", "cuda"),  # no model; runs anywhere
    )

    def __init__(self, device: str = "cpu", trim: bool = True) -> None:
        super().__init__(device)
        self.trim = trim

    def detect_one(self, image: np.ndarray, hint: GarmentType | None = None) -> list[Detection]:
        image = load_image(image)
        height, width = image.shape[:2]
        box = content_box(image) if self.trim else Box(0.0, 0.0, float(width), float(height))
        if hint is not None:
            return [Detection(box, hint, HINT_SCORE)]
        return [Detection(box, guess_garment_type(box), GUESS_SCORE, type_guessed=True)]


def guess_garment_type(box: Box) -> GarmentType:
    """``full`` for a box taller than ``TALL_RATIO`` x its width, else ``upper``."""
    return GarmentType.FULL if box.height > TALL_RATIO * box.width else GarmentType.UPPER


def content_box(image: np.ndarray) -> Box:
    """The photo's box less a plain uniform border (plus a margin); the whole photo when there is none."""
    height, width = image.shape[:2]
    whole = Box(0.0, 0.0, float(width), float(height))
    if min(height, width) < 16:
        return whole
    scale = min(1.0, ANALYSIS_SIDE / max(height, width))
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    small = small.astype(np.int16)
    small_h, small_w = small.shape[:2]

    border = np.concatenate([small[:2].reshape(-1, 3), small[-2:].reshape(-1, 3),
                             small[:, :2].reshape(-1, 3), small[:, -2:].reshape(-1, 3)])  # fmt: skip
    background = np.median(border, axis=0)
    border_matches = np.abs(border - background).max(axis=1) <= BACKGROUND_TOLERANCE
    if border_matches.mean() < UNIFORM_BORDER_SHARE:
        return whole

    foreground = np.abs(small - background).max(axis=2) > BACKGROUND_TOLERANCE
    # A row or column holds content when more than a speck of it differs from the background.
    rows = np.flatnonzero(foreground.sum(axis=1) > max(2, 0.005 * small_w))
    cols = np.flatnonzero(foreground.sum(axis=0) > max(2, 0.005 * small_h))
    if rows.size == 0 or cols.size == 0:
        return whole  # blank photo: nothing to trim to
    x0, x1 = float(cols[0]) / scale, float(cols[-1] + 1) / scale
    y0, y1 = float(rows[0]) / scale, float(rows[-1] + 1) / scale
    margin_x, margin_y = TRIM_MARGIN * width + 1 / scale, TRIM_MARGIN * height + 1 / scale
    box = Box(
        max(0.0, x0 - margin_x),
        max(0.0, y0 - margin_y),
        min(float(width), x1 + margin_x),
        min(float(height), y1 + margin_y),
    )
    if box.width < 16 or box.height < 16:
        return whole
    return box
