"""Small HTML previews for the admin: a thumbnail with the garment's box and landmarks drawn in SVG."""
from __future__ import annotations

from django.utils.html import format_html, format_html_join

from engine.types import LANDMARK_SLOTS

VISIBILITY_STYLE = {"visible": ("#e6194b", "1"), "occluded": ("#f58231", "0.55")}


def landmark_preview(image, size: int = 160) -> str:
    """The image scaled into a ``size`` square, with its garment's box and visible/occluded landmarks."""
    if not image or not image.image:
        return "-"
    width, height = image.width or size, image.height or size
    garment = image.garment or {}
    return format_html(
        '<svg class="landmark-preview" width="{}" height="{}" viewBox="0 0 {} {}" '
        'preserveAspectRatio="xMidYMid meet" role="img" aria-label="landmarks">'
        '<image href="{}" width="{}" height="{}"/>{}{}</svg>',
        size, size, width, height, image.image.url, width, height,
        _box(garment.get("box"), width), _points(garment.get("landmarks") or {}, width),
    )


def _box(box, width: int) -> str:
    if not box:
        return ""
    x0, y0, x1, y1 = box
    return format_html(
        '<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#3cb44b" stroke-width="{}"/>',
        x0, y0, x1 - x0, y1 - y0, max(width / 150, 1),
    )


def _points(landmarks: dict, width: int) -> str:
    radius = max(width / 60, 2)
    return format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="{}" fill="{}" fill-opacity="{}"><title>{} ({})</title></circle>',
        (
            (entry["x"], entry["y"], radius, *VISIBILITY_STYLE[entry["visibility"]], slot, entry["visibility"])
            for slot in LANDMARK_SLOTS
            if (entry := landmarks.get(slot)) and entry.get("visibility") in VISIBILITY_STYLE
        ),
    )
