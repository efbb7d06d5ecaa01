"""Draw a pipeline result over its photo: garment boxes, labels and landmarks.

Each garment gets a box in its own colour, labelled with its garment type,
score and predicted category. Each landmark slot has a fixed colour (a small
legend names them): a visible landmark is a filled dot, an occluded one a
hollow ring, an absent one is not drawn. Left/right pairs (collars,
waistlines, hems) are joined by a thin line so the garment's shape reads.
Line widths and text scale with the image.

    from engine.overlay import draw_overlay
    picture = draw_overlay(image, result.garments)   # (H, W, 3) RGB uint8
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.imageio import load_image
from engine.types import LANDMARK_SLOTS, SLOT_INDEX, Garment, Visibility

#: One fixed colour per landmark slot, in LANDMARK_SLOTS order.
SLOT_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),  # left_collar: red
    (245, 130, 48),  # right_collar: orange
    (255, 225, 25),  # left_sleeve: yellow
    (60, 180, 75),  # right_sleeve: green
    (70, 240, 240),  # left_waistline: cyan
    (0, 130, 200),  # right_waistline: blue
    (145, 30, 180),  # left_hem: purple
    (240, 50, 230),  # right_hem: magenta
)

#: Box colours, one per garment in turn.
GARMENT_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 255, 255),
    (127, 255, 0),
    (0, 191, 255),
    (255, 165, 0),
    (255, 105, 180),
    (188, 143, 143),
)

#: Left/right slot pairs joined by a line.
PAIRS: tuple[tuple[str, str], ...] = (
    ("left_collar", "right_collar"),
    ("left_waistline", "right_waistline"),
    ("left_hem", "right_hem"),
)

_OUTLINE = (0, 0, 0)


def draw_overlay(image: np.ndarray, garments: Sequence[Garment], legend: bool = True) -> np.ndarray:
    """Return a copy of ``image`` (RGB uint8, H x W x 3) with ``garments`` drawn on it."""
    rgb = load_image(image)
    height, width = rgb.shape[:2]
    style = _Style.for_size(width, height)
    canvas = Image.fromarray(rgb).convert("RGBA")
    shapes = ImageDraw.Draw(canvas)

    drawn_slots: set[int] = set()
    for number, garment in enumerate(garments):
        color = GARMENT_COLORS[number % len(GARMENT_COLORS)]
        _draw_box(shapes, garment, color, style)
        if garment.landmarks is not None:
            drawn_slots |= _draw_landmarks(shapes, garment, color, style)
    # Labels and legend go on last, above every garment's box and landmarks.
    for number, garment in enumerate(garments):
        _draw_label(canvas, garment, GARMENT_COLORS[number % len(GARMENT_COLORS)], style)
    if legend and drawn_slots:
        _draw_legend(canvas, sorted(drawn_slots), style)
    return np.asarray(canvas.convert("RGB"))


def garment_label(garment: Garment) -> str:
    """"upper 0.93 · t-shirt": garment type, detection score and the predicted category if any."""
    detection = garment.detection
    label = f"{detection.garment_type.value} {detection.score:.2f}"
    if garment.embedding is not None and garment.embedding.category:
        label += f" · {garment.embedding.category}"
    return label


# ----------------------------------------------------------------------------- helpers


class _Style:
    """Sizes that scale with the image's shorter side."""

    def __init__(self, line: int, radius: int, ring: int, font: ImageFont.ImageFont, font_size: int) -> None:
        self.line, self.radius, self.ring, self.font, self.font_size = line, radius, ring, font, font_size

    @classmethod
    def for_size(cls, width: int, height: int) -> "_Style":
        side = min(width, height)
        line = max(1, round(side / 250))
        radius = max(3, round(side / 90))
        ring = max(1, round(radius / 3))
        font_size = max(10, round(side / 40))
        return cls(line, radius, ring, _font(font_size), font_size)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _draw_box(draw: ImageDraw.ImageDraw, garment: Garment, color: tuple[int, int, int], style: _Style) -> None:
    box = garment.detection.box
    draw.rectangle(box.as_tuple(), outline=color, width=style.line)


def _draw_landmarks(draw: ImageDraw.ImageDraw, garment: Garment, color: tuple[int, int, int], style: _Style) -> set[int]:
    """Pair lines, then dots (visible) and rings (occluded); returns the slot indices drawn."""
    landmarks = garment.landmarks
    assert landmarks is not None
    points, visibility = landmarks.points, landmarks.visibility
    present = visibility != Visibility.ABSENT

    for left, right in PAIRS:
        i, j = SLOT_INDEX[left], SLOT_INDEX[right]
        if present[i] and present[j]:
            draw.line([tuple(points[i]), tuple(points[j])], fill=color, width=max(1, style.line // 2 or 1))

    drawn = set()
    r = style.radius
    for index in range(len(LANDMARK_SLOTS)):
        if not present[index]:
            continue
        x, y = float(points[index, 0]), float(points[index, 1])
        bounds = (x - r, y - r, x + r, y + r)
        slot_color = SLOT_COLORS[index]
        if visibility[index] == Visibility.VISIBLE:
            draw.ellipse(bounds, fill=slot_color, outline=_OUTLINE, width=1)
        else:  # occluded: a hollow ring in the slot's colour with a thin dark edge
            draw.ellipse(bounds, outline=_OUTLINE, width=style.ring + 2)
            draw.ellipse((x - r + 1, y - r + 1, x + r - 1, y + r - 1), outline=slot_color, width=style.ring)
        drawn.add(index)
    return drawn


def _draw_label(canvas: Image.Image, garment: Garment, color: tuple[int, int, int], style: _Style) -> None:
    draw = ImageDraw.Draw(canvas)
    text = garment_label(garment)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=style.font)
    pad = max(2, style.font_size // 5)
    text_w, text_h = right - left + 2 * pad, bottom - top + 2 * pad
    box = garment.detection.box
    x = min(max(0.0, box.x0), max(0.0, canvas.width - text_w))
    y = box.y0 - text_h
    if y < 0:  # no room above the box: put the label just inside its top edge
        y = max(0.0, box.y0)
    draw.rectangle((x, y, x + text_w, y + text_h), fill=color)
    draw.text((x + pad - left, y + pad - top), text, fill=_text_color(color), font=style.font)


def _draw_legend(canvas: Image.Image, slots: list[int], style: _Style) -> None:
    """Slot names with their colours, on a translucent panel in the bottom-left corner."""
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font, pad = style.font, max(2, style.font_size // 4)
    row = style.font_size + pad
    names = [LANDMARK_SLOTS[i].replace("_", " ") for i in slots]
    text_w = max(draw.textbbox((0, 0), name, font=font)[2] for name in names)
    swatch = max(4, style.font_size * 2 // 3)
    panel_w = pad * 3 + swatch + text_w
    panel_h = pad + row * len(names)
    x0, y0 = pad, canvas.height - panel_h - pad
    draw.rectangle((x0, y0, x0 + panel_w, y0 + panel_h), fill=(0, 0, 0, 150))
    for k, (index, name) in enumerate(zip(slots, names)):
        y = y0 + pad + k * row
        sy = y + (style.font_size - swatch) / 2
        draw.ellipse((x0 + pad, sy, x0 + pad + swatch, sy + swatch), fill=SLOT_COLORS[index] + (255,))
        draw.text((x0 + pad * 2 + swatch, y), name, fill=(255, 255, 255, 255), font=font)
    canvas.alpha_composite(layer)


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)
