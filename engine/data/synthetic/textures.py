"""Colours, fabric textures and shading of the synthetic set.

A texture is defined in the garment's body space (units of the figure's
height), so a stripe keeps its width and angle relative to the garment when
the same item is photographed at another scale or rotation (consumer vs shop).
Rendering takes a canvas region and the camera mapping and returns RGB floats.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

TEXTURES = ("solid", "striped", "checked", "dotted", "printed", "logo")

#: Colour families (the colour attributes) as HSV ranges: hue (degrees) range, saturation, value.
COLOUR_FAMILIES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "black": ((0, 360), (0.0, 0.25), (0.06, 0.2)),
    "white": ((0, 360), (0.0, 0.06), (0.88, 0.98)),
    "grey": ((0, 360), (0.0, 0.08), (0.35, 0.72)),
    "red": ((-8, 8), (0.65, 0.95), (0.5, 0.9)),
    "pink": ((325, 350), (0.3, 0.6), (0.8, 0.98)),
    "orange": ((18, 32), (0.7, 0.95), (0.8, 0.98)),
    "yellow": ((45, 56), (0.6, 0.9), (0.85, 0.98)),
    "green": ((90, 160), (0.45, 0.85), (0.3, 0.75)),
    "blue": ((200, 235), (0.5, 0.9), (0.35, 0.85)),
    "purple": ((265, 295), (0.4, 0.75), (0.3, 0.7)),
    "brown": ((18, 32), (0.5, 0.75), (0.25, 0.45)),
    "beige": ((30, 45), (0.18, 0.35), (0.75, 0.9)),
}
COLOUR_NAMES = tuple(COLOUR_FAMILIES)


def random_colour(rng: np.random.Generator, family: str) -> tuple[float, float, float]:
    """An RGB colour (0..1 floats) of the named family."""
    (h0, h1), (s0, s1), (v0, v1) = COLOUR_FAMILIES[family]
    hue = (rng.uniform(h0, h1) % 360) / 360
    return colorsys.hsv_to_rgb(hue, rng.uniform(s0, s1), rng.uniform(v0, v1))


@dataclass
class TextureSpec:
    kind: str
    colours: list[tuple[float, float, float]]  # base first; pattern colours after
    angle: float = 0.0  # radians, in body space
    period: float = 0.04  # body units
    duty: float = 0.5
    seed: int = 0
    logo_text: str | None = None
    logo_shape: str = "circle"
    extra: dict = field(default_factory=dict)

    @property
    def base(self) -> tuple[float, float, float]:
        return self.colours[0]


def random_texture(rng: np.random.Generator, kind: str, family: str) -> TextureSpec:
    base = random_colour(rng, family)
    others = [f for f in COLOUR_NAMES if f != family]
    second = random_colour(rng, others[rng.integers(len(others))])
    if rng.random() < 0.4:  # a lighter / darker version of the base reads as one colour family
        factor = rng.choice([0.55, 1.6])
        second = tuple(float(np.clip(c * factor + (0.25 if factor > 1 else 0), 0, 1)) for c in base)
    third = random_colour(rng, others[rng.integers(len(others))])
    spec = TextureSpec(kind, [base, second, third], seed=int(rng.integers(2**31)))
    if kind == "striped":
        spec.angle = float(rng.choice([0.0, np.pi / 2, rng.uniform(-np.pi / 4, np.pi / 4), rng.uniform(0, np.pi)]))
        spec.period = float(rng.uniform(0.012, 0.05))
        spec.duty = float(rng.uniform(0.2, 0.55))
    elif kind == "checked":
        spec.angle = float(rng.choice([0.0, np.pi / 4])) + float(rng.normal(0, 0.05))
        spec.period = float(rng.uniform(0.02, 0.06))
        spec.duty = float(rng.uniform(0.3, 0.5))
    elif kind == "dotted":
        spec.angle = float(rng.uniform(-0.3, 0.3))
        spec.period = float(rng.uniform(0.015, 0.04))
        spec.duty = float(rng.uniform(0.15, 0.35))  # dot radius / period
    elif kind == "printed":
        spec.period = float(rng.uniform(0.03, 0.08))  # blob size
        spec.extra["style"] = str(rng.choice(["flowers", "blobs", "leaves"]))
    elif kind == "logo":
        spec.logo_shape = str(rng.choice(["circle", "star", "text", "text", "diamond", "band"]))
        letters = "ABCDEFGHIJKLMNOPRSTUVWXYZ"
        words = ["LOVE", "NYC", "COOL", "SUMMER", "PARIS", "BRAND", "GOOD", "VIBES", "SPORT", "1987"]
        spec.logo_text = (
            str(rng.choice(words)) if rng.random() < 0.6 else "".join(rng.choice(list(letters), int(rng.integers(2, 5))))
        )
        spec.extra["size"] = float(rng.uniform(0.05, 0.1))
    return spec


# --------------------------------------------------------------------------- rendering


def render_texture(
    spec: TextureSpec, region: tuple[int, int, int, int], inverse: np.ndarray, anchor: np.ndarray
) -> np.ndarray:
    """RGB floats (h, w, 3) of ``spec`` over the canvas region (x0, y0, x1, y1).

    ``inverse`` is the 2x3 affine from canvas pixels to body units; ``anchor`` the
    body-space origin of the pattern (the garment's centre).
    """
    x0, y0, x1, y1 = region
    h, w = y1 - y0, x1 - x0
    base = np.asarray(spec.base, np.float32)
    if spec.kind in ("solid", "logo"):
        out = np.empty((h, w, 3), np.float32)
        out[:] = base
        return out
    if spec.kind == "printed":
        return _printed(spec, region, inverse, anchor)
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    u = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2] - anchor[0]
    v = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2] - anchor[1]
    ca, sa = np.cos(spec.angle), np.sin(spec.angle)
    a = (ca * u + sa * v) / spec.period
    b = (-sa * u + ca * v) / spec.period
    px = float(np.hypot(inverse[0, 0], inverse[0, 1]) / spec.period)  # a canvas pixel in pattern periods
    second = np.asarray(spec.colours[1], np.float32)
    if spec.kind == "striped":
        weight = _band(a, spec.duty, px)
        return base + weight[..., None] * (second - base)
    if spec.kind == "checked":
        wa = _band(a, spec.duty, px)
        wb = _band(b, spec.duty, px)
        third = np.asarray(spec.colours[2], np.float32) * 0.3 + second * 0.7
        out = base + (0.55 * wa)[..., None] * (second - base)
        out = out + (0.55 * wb)[..., None] * (second - base)
        return out + (wa * wb * 0.5)[..., None] * (third - out)
    if spec.kind == "dotted":
        row = np.floor(b)
        fa = (a + 0.5 * (row % 2)) % 1.0 - 0.5
        fb = b % 1.0 - 0.5
        dist = np.sqrt(fa * fa + fb * fb)
        weight = np.clip((spec.duty - dist) / max(px, 1e-3) + 0.5, 0, 1)
        return base + weight[..., None] * (second - base)
    raise ValueError(f"unknown texture {spec.kind!r}: expected one of {', '.join(TEXTURES)}")


def _band(coordinate: np.ndarray, duty: float, pixel: float) -> np.ndarray:
    """Anti-aliased stripe weight: 1 on a band ``duty`` of each period wide."""
    distance = np.abs((coordinate - duty / 2 + 0.5) % 1.0 - 0.5)
    return np.clip((duty / 2 - distance) / max(pixel, 1e-3) + 0.5, 0, 1)


_PRINT_EXTENT = 0.9  # body units covered by a print tile around the anchor
_PRINT_RES = 420  # tile pixels per body unit


def _printed(spec: TextureSpec, region, inverse, anchor) -> np.ndarray:
    tile = _print_tile(spec)
    x0, y0, x1, y1 = region
    # canvas -> tile pixels: tile = (body - anchor + extent/2) * res
    r = _PRINT_RES
    a = inverse[0] * r
    b = inverse[1] * r
    off = (_PRINT_EXTENT / 2 - anchor) * r
    coeffs = (
        a[0], a[1], a[0] * x0 + a[1] * y0 + a[2] + off[0],
        b[0], b[1], b[0] * x0 + b[1] * y0 + b[2] + off[1],
    )
    out = tile.transform((x1 - x0, y1 - y0), Image.AFFINE, coeffs, resample=Image.BILINEAR)
    return np.asarray(out, np.float32) / 255.0


_TILE_CACHE: dict[int, Image.Image] = {}


def _print_tile(spec: TextureSpec) -> Image.Image:
    key = spec.seed
    if key in _TILE_CACHE:
        return _TILE_CACHE[key]
    rng = np.random.default_rng(spec.seed)
    size = int(_PRINT_EXTENT * _PRINT_RES)
    colour = lambda c: tuple(int(255 * v) for v in c)  # noqa: E731
    tile = Image.new("RGB", (size, size), colour(spec.base))
    draw = ImageDraw.Draw(tile)
    blob = spec.period * _PRINT_RES
    count = int((size / blob) ** 2 * 0.6)
    palette = [spec.colours[1], spec.colours[2], tuple(np.clip(np.asarray(spec.colours[1]) * 0.6, 0, 1))]
    style = spec.extra.get("style", "blobs")
    for _ in range(count):
        cx, cy = rng.uniform(0, size, 2)
        r = blob * rng.uniform(0.25, 0.6)
        fill = colour(palette[rng.integers(len(palette))])
        if style == "flowers":
            for k in range(5):
                t = 2 * np.pi * k / 5 + rng.uniform(0, 0.3)
                px, py = cx + np.cos(t) * r * 0.6, cy + np.sin(t) * r * 0.6
                draw.ellipse([px - r * 0.45, py - r * 0.45, px + r * 0.45, py + r * 0.45], fill=fill)
            draw.ellipse([cx - r * 0.25, cy - r * 0.25, cx + r * 0.25, cy + r * 0.25], fill=colour(spec.colours[2]))
        elif style == "leaves":
            t = rng.uniform(0, np.pi)
            pts = [(cx + np.cos(t) * r, cy + np.sin(t) * r), (cx - np.sin(t) * r * 0.35, cy + np.cos(t) * r * 0.35),
                   (cx - np.cos(t) * r, cy - np.sin(t) * r), (cx + np.sin(t) * r * 0.35, cy - np.cos(t) * r * 0.35)]
            draw.polygon(pts, fill=fill)
        else:
            n = 7
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = r * rng.uniform(0.5, 1.0, n)
            draw.polygon([(cx + np.cos(t) * q, cy + np.sin(t) * q) for t, q in zip(angles, radii)], fill=fill)
    tile = tile.filter(ImageFilter.GaussianBlur(0.8))
    if len(_TILE_CACHE) > 64:
        _TILE_CACHE.clear()
    _TILE_CACHE[key] = tile
    return tile


def logo_mask(spec: TextureSpec, size_px: int) -> Image.Image:
    """An 'L' mask (size_px square) of the logo: a shape or text, centred."""
    mask = Image.new("L", (size_px, size_px), 0)
    draw = ImageDraw.Draw(mask)
    s = size_px
    shape = spec.logo_shape
    if shape == "circle":
        draw.ellipse([s * 0.1, s * 0.1, s * 0.9, s * 0.9], fill=255)
        draw.ellipse([s * 0.3, s * 0.3, s * 0.7, s * 0.7], fill=0)
    elif shape == "star":
        pts = []
        for k in range(10):
            r = s * (0.45 if k % 2 == 0 else 0.2)
            t = np.pi * k / 5 - np.pi / 2
            pts.append((s / 2 + np.cos(t) * r, s / 2 + np.sin(t) * r))
        draw.polygon(pts, fill=255)
    elif shape == "diamond":
        draw.polygon([(s / 2, s * 0.1), (s * 0.9, s / 2), (s / 2, s * 0.9), (s * 0.1, s / 2)], fill=255)
    elif shape == "band":
        draw.rectangle([0, s * 0.4, s, s * 0.6], fill=255)
    else:
        text = spec.logo_text or "LOGO"
        font = ImageFont.load_default(size=max(8, int(s / max(2.5, len(text) * 0.62))))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text(((s - (right - left)) / 2 - left, (s - (bottom - top)) / 2 - top), text, fill=255, font=font)
    return mask


# --------------------------------------------------------------------------- shading


def shade(
    rgb: np.ndarray,
    mask: Image.Image,
    rng: np.random.Generator,
    depth: float,
    light: tuple[float, float],
    folds: float = 0.0,
) -> np.ndarray:
    """Multiply RGB floats by soft shading: darker towards the piece's edges, a light gradient, folds."""
    h, w = rgb.shape[:2]
    small = mask.reduce(4) if min(w, h) >= 16 else mask
    radius = max(1.0, min(small.size) / 5.0)
    blurred = small.filter(ImageFilter.GaussianBlur(radius)).resize((w, h), Image.BILINEAR)
    s = np.asarray(blurred, np.float32) / 255.0
    t = np.clip((s - 0.3) / 0.55, 0, 1)
    factor = (1 - depth) + depth * np.sqrt(t)
    yy = (np.arange(h, dtype=np.float32)[:, None] / max(h, 1)) - 0.5
    xx = (np.arange(w, dtype=np.float32)[None, :] / max(w, 1)) - 0.5
    factor = factor * (1 + light[0] * xx + light[1] * yy)
    if folds > 0:
        for _ in range(int(rng.integers(1, 4))):
            angle = rng.uniform(0, np.pi)
            freq = rng.uniform(1.5, 5.0) * 2 * np.pi
            wave = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
            factor = factor * (1 - folds * np.clip(wave, 0, 1) ** 3)
    return rgb * factor[..., None]
