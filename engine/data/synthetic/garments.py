"""Garments of the synthetic set: items (category, shape parameters, texture) and their geometry on a figure.

An item's shape parameters are relative to the body (lengths between body
heights, looseness in body units), so the same item fits different people.
Landmarks come from the same construction as the polygons, so labels are exact:
collar = outer corners of the neckline opening; sleeve = middle of the sleeve
end (sleeveless: bottom of the armhole); waistline = outer ends of the
waistband / waist seam; hem = ends of the hem line (trousers and shorts: the
outer corner of each leg opening). Left = image left (side 0, smaller x).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.data.synthetic.figures import Figure, cut_chain, densify, interp_widths, tube, tube_end
from engine.data.synthetic.textures import COLOUR_NAMES, TEXTURES, TextureSpec, random_texture
from engine.types import NUM_SLOTS, SLOT_INDEX, SLOTS_BY_TYPE, GarmentType

#: The six categories, in list_category_cloth.txt order, with their FLD clothes type.
CATEGORIES: tuple[tuple[str, GarmentType], ...] = (
    ("Tee", GarmentType.UPPER),
    ("Sweater", GarmentType.UPPER),
    ("Trousers", GarmentType.LOWER),
    ("Shorts", GarmentType.LOWER),
    ("Skirt", GarmentType.LOWER),
    ("Dress", GarmentType.FULL),
)
CATEGORY_NAMES = tuple(name for name, _ in CATEGORIES)
SHAPE_ATTRIBUTES = ("sleeveless", "short_sleeve", "long_sleeve", "mini_length", "maxi_length")
#: Multi-label attributes: texture, dominant colour family, shape words.
ATTRIBUTE_NAMES: tuple[str, ...] = TEXTURES + COLOUR_NAMES + SHAPE_ATTRIBUTES
#: list_attr_cloth.txt types: DeepFashion's 1 texture and 3 shape; 6 = colour (our addition).
ATTRIBUTE_TYPES: tuple[int, ...] = (1,) * len(TEXTURES) + (6,) * len(COLOUR_NAMES) + (3,) * len(SHAPE_ATTRIBUTES)
_TEXTURE_WEIGHTS = (0.34, 0.17, 0.12, 0.1, 0.14, 0.13)


@dataclass
class GarmentSpec:
    """One item: what it is and how it is cut, independent of who wears it."""

    category: str
    texture: TextureSpec
    colour: str
    sleeve: str = "none"  # none | short | long (upper and full)
    sleeve_fraction: float = 0.0  # along the arm chain
    sleeve_loose: float = 0.01
    neck_width: float = 1.6  # times the neck's half width
    neck_depth: float = 0.04
    neck_shape: str = "crew"  # crew | v | scoop
    loose: float = 0.015
    hem: float = 0.8  # tops: 0 = waist, 1 = below the crotch
    length: float = 0.2  # skirts / dresses: hem below the hip; trousers / shorts: fraction of the leg
    flare: float = 0.03
    rise: float = 0.02  # waistband below the waist
    leg_width: float = 0.01
    strap: float = 0.03
    attributes: dict[str, bool] = field(default_factory=dict)

    @property
    def garment_type(self) -> GarmentType:
        return dict(CATEGORIES)[self.category]

    @property
    def category_index(self) -> int:
        return CATEGORY_NAMES.index(self.category)

    def attribute_vector(self) -> np.ndarray:
        words = {self.texture.kind, self.colour} | {k for k, v in self.attributes.items() if v}
        return np.array([1 if name in words else 0 for name in ATTRIBUTE_NAMES], np.int64)


def random_item(rng: np.random.Generator, category: str | None = None, garment_type: GarmentType | None = None) -> GarmentSpec:
    """A random item; ``category`` or ``garment_type`` narrows the choice."""
    if category is None:
        names = [n for n, t in CATEGORIES if garment_type is None or t == garment_type]
        category = str(names[rng.integers(len(names))])
    kind = str(rng.choice(TEXTURES, p=_TEXTURE_WEIGHTS))
    colour = str(COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))])
    spec = GarmentSpec(category=category, texture=random_texture(rng, kind, colour), colour=colour)
    spec.neck_width = rng.uniform(1.3, 2.4)
    spec.neck_depth = rng.uniform(0.012, 0.08)
    spec.neck_shape = str(rng.choice(["crew", "v", "scoop"]))
    spec.loose = rng.uniform(0.004, 0.03)
    spec.sleeve_loose = rng.uniform(0.004, 0.02)
    spec.strap = rng.uniform(0.015, 0.04)
    if category == "Tee":
        spec.sleeve = "none" if rng.random() < 0.15 else "short"
        spec.hem = rng.uniform(-0.1, 1.15)
    elif category == "Sweater":
        spec.sleeve = "long"
        spec.hem = rng.uniform(0.3, 1.2)
        spec.loose += 0.008
    elif category == "Dress":
        spec.sleeve = str(rng.choice(["none", "short", "long"], p=[0.45, 0.35, 0.2]))
        spec.length = rng.uniform(0.1, 0.46)
        spec.flare = rng.uniform(0.0, 0.12)
    elif category == "Skirt":
        spec.length = rng.uniform(0.08, 0.45)
        spec.flare = rng.uniform(0.0, 0.02) if rng.random() < 0.4 else rng.uniform(0.03, 0.12)  # pencil / A-line
        spec.rise = rng.uniform(-0.01, 0.03)
    elif category == "Trousers":
        spec.length = rng.uniform(0.8, 0.99) if rng.random() < 0.25 else 0.99
        spec.leg_width = rng.uniform(0.0, 0.035)
        spec.rise = rng.uniform(-0.005, 0.05)
    elif category == "Shorts":
        spec.length = rng.uniform(0.1, 0.38)
        spec.leg_width = rng.uniform(0.005, 0.03)
        spec.rise = rng.uniform(-0.005, 0.04)
    if spec.sleeve == "short":
        spec.sleeve_fraction = rng.uniform(0.14, 0.32)
    elif spec.sleeve == "long":
        spec.sleeve_fraction = rng.uniform(0.93, 1.0)
    spec.attributes = {
        "sleeveless": spec.garment_type != GarmentType.LOWER and spec.sleeve == "none",
        "short_sleeve": spec.sleeve == "short",
        "long_sleeve": spec.sleeve == "long",
        "mini_length": category == "Shorts" or (category in ("Skirt", "Dress") and spec.length < 0.17),
        "maxi_length": (category in ("Skirt", "Dress") and spec.length > 0.36) or (category == "Trousers" and spec.length > 0.95),
    }
    return spec


@dataclass
class Piece:
    """Polygons (body space) painted in one go. ``arm_side`` ties a sleeve to the arm it covers."""

    name: str
    polygons: list[np.ndarray]
    arm_side: int = -1


@dataclass
class GarmentShape:
    spec: GarmentSpec
    pieces: list[Piece]
    landmarks: np.ndarray  # (8, 2) body space; rows of slots the type lacks are zero
    present: np.ndarray  # (8,) bool
    anchor: np.ndarray  # texture origin (body space)
    logo: tuple[np.ndarray, float] | None = None  # centre, size (body space)

    def points(self) -> np.ndarray:
        return np.concatenate([p for piece in self.pieces for p in piece.polygons])


def shape_garment(spec: GarmentSpec, figure: Figure, tucked: bool = False) -> GarmentShape:
    """The item's polygons and landmarks on this figure."""
    garment_type = spec.garment_type
    landmarks = np.zeros((NUM_SLOTS, 2))
    pieces: list[Piece] = []
    if garment_type == GarmentType.LOWER:
        if spec.category == "Skirt":
            polygon, marks = _skirt(spec, figure)
            pieces.append(Piece("body", [polygon]))
        else:
            pieces_, marks = _trousers(spec, figure)
            pieces += pieces_
    else:
        polygon, marks = _bodice(spec, figure, full=garment_type == GarmentType.FULL)
        pieces.append(Piece("body", [polygon]))
        for side in range(2):
            if spec.sleeve != "none":
                collar = marks[("left_collar", "right_collar")[side]]
                sleeve, point = _sleeve(spec, figure, side, marks[f"_armpit{side}"], collar)
                pieces.append(Piece(f"sleeve{side}", sleeve, arm_side=side))
                marks[("left_sleeve", "right_sleeve")[side]] = point
            else:
                marks[("left_sleeve", "right_sleeve")[side]] = marks[f"_armpit{side}"]
    present = np.zeros(NUM_SLOTS, bool)
    for slot in SLOTS_BY_TYPE[garment_type]:
        landmarks[SLOT_INDEX[slot]] = marks[slot]
        present[SLOT_INDEX[slot]] = True
    all_points = np.concatenate([p for piece in pieces for p in piece.polygons])
    anchor = all_points.mean(axis=0)
    logo = None
    if spec.texture.kind == "logo" and garment_type != GarmentType.LOWER:
        b = figure.build
        centre = figure.warp(np.array([0.0, b.y_armpit + 0.035]))
        logo = (centre, spec.texture.extra.get("size", 0.07) * figure.pose.yaw ** 0.5)
    return GarmentShape(spec, pieces, landmarks, present, anchor, logo)


# --------------------------------------------------------------------------- constructions


def _bodice(spec: GarmentSpec, figure: Figure, full: bool) -> tuple[np.ndarray, dict]:
    """Top or dress outline (one polygon, neckline included) and its landmarks, warped."""
    b, w = figure.build, figure.width
    loose = spec.loose
    nw = w(b.neck_w * spec.neck_width)
    y_collar = b.y_neck + 0.012
    armpit = (w(b.chest_w) + loose, b.y_armpit + 0.012)
    if spec.sleeve == "none":
        shoulder = [(nw + w(spec.strap), b.y_shoulder + 0.002), (w(b.chest_w) * 0.93 + loose * 0.5, b.y_armpit - 0.025)]
    else:
        shoulder = [(w(b.shoulder_w) * 0.92 + loose * 0.3, b.y_shoulder + 0.004), (w(b.shoulder_w) + loose * 0.5, b.y_shoulder + 0.03)]
    side = [armpit]
    marks: dict = {}
    if full:
        y_waist = b.y_waist + 0.005
        waist = (figure.half_width(y_waist) + loose * 0.8, y_waist)
        y_hem = b.y_hip + spec.length
        hip = figure.half_width(b.y_hip) + loose + 0.004
        hem_w = max(hip, waist[0]) + spec.flare + 0.004 + (spec.flare * 0.5 + 0.01) * spec.length / 0.45
        t = (b.y_hip - y_waist) / (y_hem - y_waist)
        hip = max(hip, waist[0] + (hem_w - waist[0]) * t)
        side += [waist, (hip, b.y_hip), (hem_w, y_hem)]
        marks["_waist"] = waist
    else:
        y_hem = b.y_waist + spec.hem * (b.y_crotch + 0.04 - b.y_waist)
        if y_hem > b.y_waist + 0.02:
            side.append((figure.half_width(b.y_waist) + loose * 1.3, b.y_waist))
        if y_hem > b.y_hip + 0.01:
            side.append((figure.half_width(b.y_hip) + loose * 1.2, b.y_hip))
        hem_w = max(figure.half_width(min(y_hem, b.y_hip)) + loose * 1.2, side[-1][0] * 0.98)
        side.append((hem_w, y_hem))
    right = [(nw, y_collar)] + shoulder + side
    hem_mid = (0.0, y_hem + 0.006)
    outline = [(-x, y) for x, y in right] + [(-right[-1][0] * 0.5, right[-1][1] + 0.004), hem_mid,
                                              (right[-1][0] * 0.5, right[-1][1] + 0.004)]
    outline += [(x, y) for x, y in reversed(right)]
    # neckline from the right collar corner back to the left one, through the dip
    depth = spec.neck_depth
    if spec.neck_shape == "v":
        outline += [(nw * 0.5, y_collar + depth * 0.5), (0.0, y_collar + depth), (-nw * 0.5, y_collar + depth * 0.5)]
    else:
        power = 1.0 if spec.neck_shape == "crew" else 0.5
        for t in np.linspace(0, np.pi, 11)[1:-1]:
            outline.append((nw * np.cos(t), y_collar + depth * np.sin(t) ** power))
    polygon = figure.warp(densify(np.array(outline), 0.015))
    # landmarks (warped like the polygon)
    marks["left_collar"], marks["right_collar"] = figure.warp(np.array([(-nw, y_collar), (nw, y_collar)]))
    marks["left_hem"], marks["right_hem"] = figure.warp(np.array([(-right[-1][0], right[-1][1]), right[-1]]))
    marks["_armpit0"], marks["_armpit1"] = figure.warp(np.array([(-armpit[0], armpit[1]), armpit]))
    marks["_shoulder0"], marks["_shoulder1"] = figure.warp(np.array([(-shoulder[-1][0], shoulder[-1][1]), shoulder[-1]]))
    if full:
        wx, wy = marks.pop("_waist")
        marks["left_waistline"], marks["right_waistline"] = figure.warp(np.array([(-wx, wy), (wx, wy)]))
    return polygon, marks


def _sleeve(
    spec: GarmentSpec, figure: Figure, side: int, polygon_armpit: np.ndarray, collar: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    chain, widths = figure.arm_tube(side)
    cut = cut_chain(chain, spec.sleeve_fraction)
    top = max(widths[0] + spec.sleeve_loose + 0.006, 0.04)
    half = interp_widths(chain, cut, np.array([top, widths[1] + spec.sleeve_loose, widths[2] + spec.sleeve_loose]))
    if len(cut) == 2:  # short sleeve: taper straight to the end width
        half = np.array([top, max(half[-1], widths[0] * 0.95 + spec.sleeve_loose)])
    sleeve = tube(cut, half)
    # shoulder cap: hull of a disc at the shoulder joint, the torso's shoulder point and armpit
    shoulder = chain[0]
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    # the cap stays clear of the neckline (the collar corner is never under the sleeve)
    radius = min(top, float(np.linalg.norm(collar - shoulder)) - 0.012)
    disc = shoulder + np.stack([np.cos(angles), np.sin(angles)], 1) * radius
    b = figure.build
    sx = (-1, 1)[side]
    shoulder_point = figure.warp(np.array([sx * (figure.width(b.shoulder_w) + spec.loose * 0.5), b.y_shoulder + 0.012]))
    inner_x = max(figure.width(b.shoulder_w) * 0.8, abs(float(collar[0])) + 0.015)
    inner = figure.warp(np.array([sx * inner_x, b.y_shoulder + 0.02]))
    cap = convex_hull(np.concatenate([disc, [shoulder_point, polygon_armpit, inner]]))
    return [cap, sleeve], cut[-1]


def _skirt(spec: GarmentSpec, figure: Figure) -> tuple[np.ndarray, dict]:
    b = figure.build
    y_band = b.y_waist + spec.rise
    band = figure.half_width(y_band) + 0.004
    y_hem = b.y_hip + spec.length
    hip = figure.half_width(b.y_hip) + spec.loose * 0.5 + 0.004
    hem_w = max(hip, band) + spec.flare + (spec.flare * 0.4 + 0.008) * spec.length / 0.45
    t = (b.y_hip - y_band) / (y_hem - y_band)
    hip = max(hip, band + (hem_w - band) * t)
    right = [(band, y_band), (hip, b.y_hip), (hem_w, y_hem)]
    outline = [(-x, y) for x, y in right] + [(-hem_w * 0.5, y_hem + 0.005), (0.0, y_hem + 0.007), (hem_w * 0.5, y_hem + 0.005)]
    outline += list(reversed(right))
    polygon = figure.warp(densify(np.array(outline), 0.015))
    marks = {}
    marks["left_waistline"], marks["right_waistline"] = figure.warp(np.array([(-band, y_band), (band, y_band)]))
    marks["left_hem"], marks["right_hem"] = figure.warp(np.array([(-hem_w, y_hem), (hem_w, y_hem)]))
    return polygon, marks


def _trousers(spec: GarmentSpec, figure: Figure) -> tuple[list[Piece], dict]:
    b = figure.build
    y_band = b.y_waist + spec.rise
    band = figure.half_width(y_band) + 0.004
    hip = figure.half_width(b.y_hip) + spec.loose * 0.4 + 0.003
    pelvis = figure.warp(densify(np.array([
        (-band, y_band), (band, y_band), (hip, b.y_hip), (hip * 0.9, b.y_crotch + 0.01), (0.0, b.y_crotch + 0.012),
        (-hip * 0.9, b.y_crotch + 0.01), (-hip, b.y_hip),
    ]), 0.015))
    polygons = [pelvis]
    marks = {}
    for side in range(2):
        chain, widths = figure.leg_tube(side)
        top_half = abs(chain[0][0]) + 0.002 + spec.loose * 0.4
        top_half = max(top_half, hip - abs(chain[0][0]) + 0.003)
        half = np.array([top_half, widths[1] + spec.loose + spec.leg_width, widths[2] + spec.loose * 0.6 + spec.leg_width * 1.3])
        cut = cut_chain(chain, spec.length)
        cut_half = interp_widths(chain, cut, half)
        polygons.append(tube(cut, cut_half))
        a, c = tube_end(cut, cut_half[-1])
        outer = a if (a[0] < c[0]) == (side == 0) else c
        marks[("left_hem", "right_hem")[side]] = outer
    marks["left_waistline"], marks["right_waistline"] = figure.warp(np.array([(-band, y_band), (band, y_band)]))
    return [Piece("body", polygons)], marks


def convex_hull(points: np.ndarray) -> np.ndarray:
    pts = sorted(map(tuple, np.asarray(points, np.float64)))
    if len(pts) < 3:
        return np.array(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])
