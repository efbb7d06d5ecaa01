"""Scenes of the synthetic set: camera, background, painting order, occluders, lighting and the labels.

Everything is painted at twice the output size and halved (anti-aliasing).
A landmark is OCCLUDED when anything painted after the piece that owns it
covers its pixel (an arm, hair, a bag, a tucked top, the garment's own front
over a far sleeve), ABSENT when the camera cut it off (then it is placed on
the image edge, as FLD's labels do), else VISIBLE.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from engine.data.synthetic.figures import Figure, random_build, random_pose, tube
from engine.data.synthetic.garments import GarmentShape, GarmentSpec, random_item, shape_garment
from engine.data.synthetic.textures import TextureSpec, logo_mask, render_texture, shade
from engine.types import NUM_JOINTS, NUM_SLOTS, Box, GarmentType, Visibility


@dataclass
class RenderedScene:
    """One rendered photo and the labels of its target garment (image pixels)."""

    image: np.ndarray  # (H, W, 3) uint8, before JPEG
    garment_mask: np.ndarray  # (H, W) bool: pixels where the target garment is the front-most thing
    garment_type: GarmentType
    category: int
    attributes: np.ndarray
    points: np.ndarray  # (8, 2) float32
    visibility: np.ndarray  # (8,) int64
    box: Box
    joints: np.ndarray  # (14, 3) float32 x, y, visible
    variation: int
    jpeg_quality: int


def render_street(rng: np.random.Generator, item: GarmentSpec) -> RenderedScene:
    """A street-style photo of a random person wearing ``item`` (plus a matching other garment)."""
    figure = Figure.make(random_build(rng), random_pose(rng))
    outfit = [item]
    if item.garment_type == GarmentType.UPPER:
        outfit.append(random_item(rng, garment_type=GarmentType.LOWER))
    elif item.garment_type == GarmentType.LOWER:
        top = random_item(rng, garment_type=GarmentType.UPPER)
        top.hem = min(top.hem, rng.uniform(-0.1, 0.5))  # keep most of the target in sight
        outfit.append(top)
    tucked = rng.random() < 0.3
    shapes = [shape_garment(spec, figure) for spec in outfit]
    framing = str(rng.choice(["full", "context", "zoom"], p=[0.3, 0.45, 0.25]))
    camera, zoom = _street_camera(rng, figure, shapes[0], framing)
    return _render(rng, figure, shapes, camera, shop=False, tucked=tucked, ghost=False,
                   variation=_variation(framing, zoom, figure))


def render_shop(rng: np.random.Generator, item: GarmentSpec) -> RenderedScene:
    """A shop photo of ``item``: frontal, centred, plain light background, on a mannequin or alone."""
    ghost = rng.random() < 0.5
    figure = Figure.make(random_build(rng, mannequin=True), random_pose(rng, neutral=True))
    shape = shape_garment(item, figure)
    camera = _shop_camera(rng, shape)
    return _render(rng, figure, [shape], camera, shop=True, tucked=False, ghost=ghost, variation=1)


# --------------------------------------------------------------------------- camera


@dataclass
class Camera:
    width: int
    height: int
    scale: float  # image pixels per body unit
    angle: float
    centre: np.ndarray  # body point at the image centre (plus shift)
    shift: np.ndarray

    def to_image(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64)
        c, s = np.cos(self.angle), np.sin(self.angle)
        d = points - self.centre
        x = (c * d[..., 0] - s * d[..., 1]) * self.scale
        y = (s * d[..., 0] + c * d[..., 1]) * self.scale
        return np.stack([x + self.width / 2 + self.shift[0], y + self.height / 2 + self.shift[1]], axis=-1)

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        """Twice-size canvas coordinates (PIL's pixel-centre convention)."""
        return self.to_image(points) * 2 + 0.5

    def canvas_to_body(self) -> np.ndarray:
        """2x3 affine from canvas pixels to body space."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        rt = np.array([[c, s], [-s, c]]) / self.scale  # inverse rotation over scale
        offset = np.array([self.width / 2 + self.shift[0], self.height / 2 + self.shift[1]]) + 0.25
        return np.concatenate([rt / 2, (self.centre - rt @ offset)[:, None]], axis=1)


def _image_size(long_side: int, aspect: float) -> tuple[int, int]:
    aspect = float(np.clip(aspect, 0.55, 1.4))
    if aspect < 1:
        return max(160, int(round(long_side * aspect))), long_side
    return long_side, max(160, int(round(long_side / aspect)))


def _street_camera(rng, figure: Figure, target: GarmentShape, framing: str) -> tuple[Camera, float]:
    """Frame the whole person, the garment with context, or zoom into it (then some landmarks fall outside).

    A zoom keeps at least half of the garment's landmarks in the frame.
    """
    pts = target.points()
    tx0, ty0 = pts.min(axis=0)
    tx1, ty1 = pts.max(axis=0)
    zoom = 1.0
    if framing == "full":
        x0, y0, x1, y1 = figure.extent()
        margin = rng.uniform(0.01, 0.08)
        region = (x0 - margin, y0 - margin, x1 + margin, y1 + margin)
    else:
        zoom = rng.uniform(1.15, 1.8) if framing == "context" else rng.uniform(0.8, 1.1)
    aspect_jitter, fill = rng.uniform(0.9, 1.2), rng.uniform(0.9, 1.0)
    long_side = int(rng.integers(300, 401))
    angle = np.radians(rng.normal(0, 4)) if rng.random() < 0.6 else 0.0
    shift = rng.uniform(-0.05, 0.05, 2)
    landmarks = target.landmarks[target.present]
    for _ in range(8):
        if framing != "full":
            cx, cy, w, h = (tx0 + tx1) / 2, (ty0 + ty1) / 2, (tx1 - tx0) * zoom, (ty1 - ty0) * zoom
            w = max(w, h * 0.45)
            region = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        x0, y0, x1, y1 = region
        width, height = _image_size(long_side, (x1 - x0) / (y1 - y0) * aspect_jitter)
        scale = min(width / (x1 - x0), height / (y1 - y0)) * (fill if framing != "zoom" else 1.0)
        camera = Camera(width, height, scale, float(angle), np.array([(x0 + x1) / 2, (y0 + y1) / 2]),
                        shift * (width, height))
        p = camera.to_image(landmarks)
        inside = (p[:, 0] >= 0) & (p[:, 0] <= width - 1) & (p[:, 1] >= 0) & (p[:, 1] <= height - 1)
        if framing == "full" or inside.sum() * 2 >= len(landmarks):
            break
        zoom *= 1.1
    return camera, zoom


def _shop_camera(rng, target: GarmentShape) -> Camera:
    pts = target.points()
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pad = rng.uniform(1.12, 1.3)
    w, h = (x1 - x0) * pad, (y1 - y0) * pad
    width, height = _image_size(int(rng.integers(300, 401)), w / h * rng.uniform(0.9, 1.2))
    scale = min(width / w, height / h)
    return Camera(width, height, scale, 0.0, np.array([(x0 + x1) / 2, (y0 + y1) / 2]), np.zeros(2))


def _variation(framing: str, zoom: float, figure: Figure) -> int:
    if framing == "zoom":
        return 5 if zoom < 0.95 else 4
    return figure.pose.magnitude


# --------------------------------------------------------------------------- painting


class _Painter:
    """Paints polygons on the 2x canvas and remembers each paint's mask (for occlusion)."""

    def __init__(self, background: Image.Image, camera: Camera, rng: np.random.Generator):
        self.canvas = background
        self.size = background.size
        self.camera = camera
        self.rng = rng
        self.inverse = camera.canvas_to_body()
        self.target = Image.new("L", self.size, 0)
        self.history: list[tuple[tuple[int, int, int, int], Image.Image]] = []
        angle = rng.uniform(0, 2 * np.pi)
        self.light = (float(np.cos(angle) * 0.25), float(np.sin(angle) * 0.2))

    def paint(self, polygons_body, fill, is_target=False, depth=0.3, folds=0.0, anchor=None) -> int:
        """Paint body-space polygons with a colour or a texture; returns the paint's index."""
        polygons = [self.camera.to_canvas(p) for p in polygons_body if len(p) >= 3]
        if not polygons:
            return self._record(None, None)
        allpts = np.concatenate(polygons)
        x0 = max(0, int(np.floor(allpts[:, 0].min())) - 1)
        y0 = max(0, int(np.floor(allpts[:, 1].min())) - 1)
        x1 = min(self.size[0], int(np.ceil(allpts[:, 0].max())) + 2)
        y1 = min(self.size[1], int(np.ceil(allpts[:, 1].max())) + 2)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return self._record(None, None)
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        draw = ImageDraw.Draw(mask)
        for p in polygons:
            draw.polygon([(float(x - x0), float(y - y0)) for x, y in p], fill=255)
        region = (x0, y0, x1, y1)
        if isinstance(fill, TextureSpec):
            rgb = render_texture(fill, region, self.inverse, anchor if anchor is not None else np.zeros(2))
        else:
            rgb = np.empty((y1 - y0, x1 - x0, 3), np.float32)
            rgb[:] = np.asarray(fill, np.float32)
        if depth > 0 or folds > 0:
            rgb = shade(rgb, mask, self.rng, depth, self.light, folds)
        image = Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8))
        self.canvas.paste(image, (x0, y0), mask)
        self.target.paste(255 if is_target else 0, (x0, y0, x1, y1), mask)
        return self._record(region, mask)

    def paint_mask(self, mask: Image.Image, origin: tuple[int, int], colour, is_target=False) -> int:
        x0, y0 = origin
        box = mask.getbbox()
        if box is None:
            return self._record(None, None)
        self.canvas.paste(tuple(int(255 * c) for c in colour), (x0, y0, x0 + mask.size[0], y0 + mask.size[1]), mask)
        self.target.paste(255 if is_target else 0, (x0, y0, x0 + mask.size[0], y0 + mask.size[1]), mask)
        return self._record((x0, y0, x0 + mask.size[0], y0 + mask.size[1]), mask)

    def _record(self, region, mask) -> int:
        self.history.append((region, mask))
        return len(self.history) - 1

    def covered_after(self, index: int, canvas_point: np.ndarray, radius: int = 3) -> bool:
        """Whether paints after ``index`` hide most of that paint's pixels around the point.

        A landmark is a corner of its piece, so the window around it holds some of the
        piece's pixels; the landmark is hidden when most of those are painted over.
        """
        cx, cy = int(round(canvas_point[0])), int(round(canvas_point[1]))
        wx0, wy0, wx1, wy1 = cx - radius, cy - radius, cx + radius + 1, cy + radius + 1
        own = self._window(self.history[index], wx0, wy0, wx1, wy1)
        if own is None or not own.any():
            return False
        later = np.zeros_like(own)
        for entry in self.history[index + 1 :]:
            window = self._window(entry, wx0, wy0, wx1, wy1)
            if window is not None:
                later |= window
        return bool((later & own).sum() * 2 > own.sum())

    @staticmethod
    def _window(entry, wx0, wy0, wx1, wy1) -> np.ndarray | None:
        region, mask = entry
        if region is None:
            return None
        x0, y0, x1, y1 = region
        ix0, iy0, ix1, iy1 = max(wx0, x0), max(wy0, y0), min(wx1, x1), min(wy1, y1)
        if ix0 >= ix1 or iy0 >= iy1:
            return None
        out = np.zeros((wy1 - wy0, wx1 - wx0), bool)
        part = np.asarray(mask.crop((ix0 - x0, iy0 - y0, ix1 - x0, iy1 - y0))) > 127
        out[iy0 - wy0 : iy1 - wy0, ix0 - wx0 : ix1 - wx0] = part
        return out


def _render(rng, figure: Figure, shapes: list[GarmentShape], camera: Camera, shop: bool, tucked: bool, ghost: bool,
            variation: int) -> RenderedScene:
    target = shapes[0]
    background = _background(rng, camera.width, camera.height, shop).resize(
        (camera.width * 2, camera.height * 2), Image.BILINEAR
    )
    painter = _Painter(background, camera, rng)
    b = figure.build
    skin = b.skin
    show_body = not ghost
    owner: dict[str, int] = {}  # piece name of the target -> paint index

    def paint_garment_piece(shape: GarmentShape, piece_name: str) -> None:
        is_target = shape is target
        for piece in shape.pieces:
            if piece.name == piece_name:
                index = painter.paint(piece.polygons, shape.spec.texture, is_target, depth=0.32,
                                      folds=rng.uniform(0.04, 0.12), anchor=shape.anchor)
                if is_target:
                    owner[piece_name] = index
                if piece_name == "body" and shape.logo is not None:
                    _paint_logo(painter, shape, is_target)

    # a shop mannequin for lower garments is a torso-and-legs form without arms
    # (and, for sleeveless items, without arms: a catalog photo shows the whole garment)
    show_arms = show_body and not (shop and target.spec.sleeve == "none")

    def paint_arm(side: int) -> None:
        if show_arms:
            chain, widths = figure.arm_tube(side)
            painter.paint([tube(chain, widths), _disc(chain[1], widths[1]), _disc(chain[0], widths[0])], skin, depth=0.35)
            hand_chain = figure.arms[side][2:4]
            mid = (hand_chain[0] + hand_chain[1]) / 2
            painter.paint([tube(np.stack([hand_chain[0], mid, hand_chain[1]]), np.array([widths[2], widths[2] * 1.35, widths[2] * 0.8])),
                           _disc(mid, widths[2] * 1.3)], tuple(np.asarray(skin) * 0.97), depth=0.3)
        for shape in shapes:
            paint_garment_piece(shape, f"sleeve{side}")

    # back hair, the far arm, legs, torso, head
    if show_body and b.hair_style == "long":
        painter.paint([_long_hair(figure, rng)], b.hair, depth=0.4)
    far = figure.pose.far_side
    if far >= 0:
        paint_arm(far)
    if show_body:
        for side in range(2):
            chain, widths = figure.leg_tube(side)
            painter.paint([tube(chain, widths), _disc(chain[1], widths[1])], skin, depth=0.35)
        shoe = tuple(rng.uniform(0.05, 0.6, 3)) if rng.random() < 0.4 else (0.08, 0.07, 0.07)
        for side in range(2):
            ankle = figure.legs[side][2]
            foot = ankle + np.array([(-1, 1)[side] * 0.012, 0.022])
            painter.paint([_ellipse(foot, 0.032, 0.02)], shoe, depth=0.3)
        painter.paint([figure.torso_polygon()], skin, depth=0.35)
        painter.paint([figure.neck_polygon()], tuple(np.asarray(skin) * 0.92), depth=0.3)
        _paint_head(painter, figure, rng)
    elif target.spec.garment_type != GarmentType.LOWER:
        # ghost mannequin: the garment's inside shows through the neckline
        collar = target.landmarks[0:2]
        centre = collar.mean(axis=0) + np.array([0.0, 0.012])
        half = np.linalg.norm(collar[1] - collar[0]) / 2
        painter.paint([_ellipse(centre, half * 1.02, 0.02 + target.spec.neck_depth * 0.5)],
                      tuple(np.asarray(target.spec.texture.base) * 0.6), depth=0.4)
    # garments: lower under the top unless the top is tucked in
    order = sorted(shapes, key=lambda s: {GarmentType.LOWER: 0, GarmentType.FULL: 1, GarmentType.UPPER: 2}[s.spec.garment_type])
    if tucked:
        order = sorted(order, key=lambda s: s.spec.garment_type == GarmentType.LOWER)
    for shape in order:
        paint_garment_piece(shape, "body")
    for side in range(2):
        if side != far:
            paint_arm(side)
    if show_body and b.hair_style != "bald":
        _paint_front_hair(painter, figure, rng)
    if not shop:
        _paint_occluders(painter, figure, target, rng)

    # labels
    canvas = painter.canvas
    image = np.asarray(canvas.reduce(2))
    garment_mask = np.asarray(painter.target.reduce(2)) > 127
    height, width = image.shape[:2]
    points = camera.to_image(target.landmarks)
    visibility = np.full(NUM_SLOTS, int(Visibility.ABSENT), np.int64)
    for i in np.flatnonzero(target.present):
        x, y = points[i]
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            points[i] = (np.clip(x, 0, width - 1), np.clip(y, 0, height - 1))
            continue
        piece = f"sleeve{i - 2}" if (i in (2, 3) and f"sleeve{i - 2}" in owner) else "body"
        covered = painter.covered_after(owner[piece], points[i] * 2 + 0.5)
        visibility[i] = int(Visibility.OCCLUDED if covered else Visibility.VISIBLE)
    points[~target.present] = 0
    box = _garment_box(rng, camera.to_image(target.points()), width, height)
    joints = camera.to_image(figure.joint_array())
    inside = (joints[:, 0] >= 0) & (joints[:, 0] <= width - 1) & (joints[:, 1] >= 0) & (joints[:, 1] <= height - 1)
    joints = np.concatenate([np.clip(joints, 0, [width - 1, height - 1]), inside[:, None]], axis=1)
    if ghost:
        joints[:, 2] = 0
    image, quality = _photometric(rng, image, shop)
    return RenderedScene(
        image=image,
        garment_mask=garment_mask,
        garment_type=target.spec.garment_type,
        category=target.spec.category_index,
        attributes=target.spec.attribute_vector(),
        points=points.astype(np.float32),
        visibility=visibility,
        box=box,
        joints=joints.astype(np.float32).reshape(NUM_JOINTS, 3),
        variation=int(variation),
        jpeg_quality=quality,
    )


def _garment_box(rng, points: np.ndarray, width: int, height: int) -> Box:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    w, h = x1 - x0, y1 - y0
    grow = rng.uniform(0.0, 0.04, 4)
    x0, y0, x1, y1 = x0 - grow[0] * w, y0 - grow[1] * h, x1 + grow[2] * w, y1 + grow[3] * h
    x0, y0 = float(np.clip(x0, 0, width - 2)), float(np.clip(y0, 0, height - 2))
    x1, y1 = float(np.clip(x1, x0 + 1, width)), float(np.clip(y1, y0 + 1, height))
    return Box(round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2))


def _paint_logo(painter: _Painter, shape: GarmentShape, is_target: bool) -> None:
    centre, size = shape.logo
    spec = shape.spec.texture
    side = float(np.linalg.norm(painter.camera.to_canvas(centre + [size, 0]) - painter.camera.to_canvas(centre)))
    if side < 6:
        return
    n = int(min(256, max(16, side)))
    mask = logo_mask(spec, n)
    # canvas -> logo pixels: rotate about the logo centre
    c = painter.camera.to_canvas(centre)
    x0, y0 = int(np.floor(c[0] - side)), int(np.floor(c[1] - side))
    out = int(np.ceil(2 * side))
    angle = painter.camera.angle
    k = n / side
    ca, sa = np.cos(angle), np.sin(angle)
    # logo px = R^-1 (canvas - c) * k + n/2
    coeffs = (ca * k, sa * k, (ca * (x0 - c[0]) + sa * (y0 - c[1])) * k + n / 2,
              -sa * k, ca * k, (-sa * (x0 - c[0]) + ca * (y0 - c[1])) * k + n / 2)
    warped = mask.transform((out, out), Image.AFFINE, coeffs, resample=Image.BILINEAR)
    painter.paint_mask(warped, (x0, y0), spec.colours[1], is_target)


def _paint_head(painter: _Painter, figure: Figure, rng) -> None:
    b = figure.build
    centre = figure.joints["head"]
    tilt = figure.pose.lean + figure.pose.head_tilt
    painter.paint([_ellipse(centre, b.head_w, b.head_h / 2, tilt)], b.skin, depth=0.3)
    if b.mannequin:
        return
    turn = (1 - figure.pose.yaw) * b.head_w * (1 if figure.pose.far_side == 1 else -1)
    dark = (0.12, 0.09, 0.08)
    for sx in (-1, 1):
        eye = centre + _rot(np.array([sx * b.head_w * 0.38 + turn, -b.head_h * 0.02]), tilt)
        painter.paint([_ellipse(eye, b.head_w * 0.13, b.head_h * 0.035, tilt)], dark, depth=0)
        brow = centre + _rot(np.array([sx * b.head_w * 0.38 + turn, -b.head_h * 0.1]), tilt)
        painter.paint([_ellipse(brow, b.head_w * 0.17, b.head_h * 0.015, tilt)], tuple(np.asarray(b.hair) * 0.8), depth=0)
    mouth = centre + _rot(np.array([turn, b.head_h * 0.25]), tilt)
    lip = (0.65, 0.3, 0.3) if rng.random() < 0.5 else tuple(np.asarray(b.skin) * 0.75)
    painter.paint([_ellipse(mouth, b.head_w * 0.25, b.head_h * 0.03, tilt)], lip, depth=0)


def _long_hair(figure: Figure, rng) -> np.ndarray:
    b = figure.build
    c = figure.joints["head"]
    length = rng.uniform(0.05, 0.2)
    w = b.head_w * rng.uniform(1.05, 1.35)
    bottom = b.y_shoulder + length
    angles = np.linspace(np.pi, 2 * np.pi, 9)
    top = [c + np.array([np.cos(t) * b.head_w * 1.1, np.sin(t) * b.head_h * 0.56]) for t in angles]
    return np.array(top + [np.array([w * 1.3, bottom]), np.array([-w * 1.3, bottom])])


def _paint_front_hair(painter: _Painter, figure: Figure, rng) -> None:
    b = figure.build
    c = figure.joints["head"]
    tilt = figure.pose.lean + figure.pose.head_tilt
    outer = [c + _rot(np.array([np.cos(t) * b.head_w * 1.08, np.sin(t) * b.head_h * 0.58]), tilt)
             for t in np.linspace(np.pi * 1.02, np.pi * 1.98, 12)]
    fringe_y = -b.head_h * rng.uniform(0.12, 0.25)
    inner = [c + _rot(np.array([np.cos(t) * b.head_w * 0.92, fringe_y + np.sin(t) * b.head_h * 0.12]), tilt)
             for t in np.linspace(np.pi * 1.95, np.pi * 1.05, 8)]
    painter.paint([np.array(outer + inner)], b.hair, depth=0.35)
    if b.hair_style == "bun":
        top = c + _rot(np.array([0.0, -b.head_h * 0.55]), tilt)
        painter.paint([_disc(top, b.head_w * 0.45)], b.hair, depth=0.4)
    if b.hair_style == "long" and rng.random() < 0.35:  # strands over a shoulder
        side = int(rng.integers(2))
        sx = (-1, 1)[side]
        start = c + np.array([sx * b.head_w * 0.9, 0.0])
        end = np.array([sx * b.head_w * rng.uniform(0.9, 1.6), b.y_shoulder + rng.uniform(0.04, 0.15)])
        mid = (start + end) / 2 + np.array([sx * 0.01, 0])
        painter.paint([tube(np.stack([start, mid, end]), np.array([0.02, 0.022, 0.012]))], b.hair, depth=0.4)


def _paint_occluders(painter: _Painter, figure: Figure, target: GarmentShape, rng) -> None:
    if rng.random() < 0.18:  # a bag on a shoulder strap
        side = int(rng.integers(2))
        sx = (-1, 1)[side]
        b = figure.build
        bag_centre = np.array([sx * (b.hip_w + rng.uniform(0.0, 0.05)), b.y_hip + rng.uniform(-0.06, 0.05)])
        w, h = rng.uniform(0.05, 0.1), rng.uniform(0.05, 0.09)
        colour = tuple(rng.uniform(0.05, 0.7, 3))
        shoulder = figure.arms[1 - side][0] if rng.random() < 0.5 else figure.arms[side][0]
        painter.paint([tube(np.stack([shoulder, bag_centre + [0, -h]]), np.array([0.006, 0.006]))], tuple(np.asarray(colour) * 0.8), depth=0.1)
        corners = np.array([[-w, -h], [w, -h], [w * 1.08, h], [-w * 1.08, h]])
        painter.paint([bag_centre + corners], colour, depth=0.3)
    if rng.random() < 0.15:  # a foreground object entering from a side
        pts = target.points()
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        edge = rng.uniform(lo, hi)
        edge[int(rng.integers(2))] = (lo if rng.random() < 0.5 else hi)[int(rng.integers(2))]
        size = (hi - lo).max() * rng.uniform(0.15, 0.35)
        colour = tuple(rng.uniform(0.05, 0.9, 3))
        if rng.random() < 0.5:
            painter.paint([_ellipse(edge, size, size * rng.uniform(0.5, 1.5), rng.uniform(0, np.pi))], colour, depth=0.35)
        else:
            angle = rng.uniform(0, np.pi)
            d = np.array([np.cos(angle), np.sin(angle)])
            painter.paint([tube(np.stack([edge - d * size * 3, edge + d * size * 3]), np.array([size * 0.3] * 2))], colour, depth=0.3)


# --------------------------------------------------------------------------- background and photometry


def _background(rng, width: int, height: int, shop: bool) -> Image.Image:
    if shop:
        base = np.array(rng.uniform(0.86, 1.0)) * (1 - rng.uniform(0, 0.05, 3))
        return _gradient(width, height, base, base * rng.uniform(0.9, 1.0), rng.uniform(0, np.pi))
    kind = rng.choice(["gradient", "room", "street", "noise", "shapes", "studio"], p=[0.12, 0.28, 0.22, 0.13, 0.15, 0.1])
    if kind == "gradient":
        image = _gradient(width, height, _muted(rng), _muted(rng), rng.uniform(0, np.pi))
    elif kind == "studio":
        v = rng.uniform(0.75, 1.0)
        image = _gradient(width, height, np.full(3, v), np.full(3, v * 0.85) * rng.uniform(0.95, 1.05, 3), np.pi / 2)
    elif kind == "noise":
        shape = (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 1)
        grey, tint = rng.uniform(0.15, 0.9, shape), rng.uniform(0, 1, shape[:2] + (3,))
        saturation = rng.uniform(0.1, 0.5)
        small = (np.clip(grey * (1 - saturation) + tint * saturation * grey * 1.3, 0, 1) * 255).astype(np.uint8)
        image = Image.fromarray(small).resize((width, height), Image.BICUBIC)
    elif kind == "room":
        image = _room(rng, width, height)
    elif kind == "street":
        image = _street(rng, width, height)
    else:
        image = _gradient(width, height, _muted(rng), _muted(rng), rng.uniform(0, np.pi))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(5, 25))):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.uniform(0.03, 0.3) * width
            colour = tuple(int(255 * v) for v in _muted(rng, 0.8))
            if rng.random() < 0.5:
                draw.ellipse([x - r, y - r * rng.uniform(0.3, 1.5), x + r, y + r], fill=colour)
            else:
                draw.rectangle([x - r, y - r * rng.uniform(0.2, 2), x + r, y + r], fill=colour)
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3.5)))
    return image


def _muted(rng, max_saturation: float = 0.6) -> np.ndarray:
    """A background colour: mostly grey, some tint."""
    grey = rng.uniform(0.15, 0.95)
    saturation = rng.uniform(0, max_saturation)
    return np.clip(grey * (1 - saturation) + rng.uniform(0, 1, 3) * saturation, 0, 1)


def _gradient(width, height, a, b, angle) -> Image.Image:
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    t = np.clip(np.cos(angle) * xs + np.sin(angle) * ys + 0.5, 0, 1)[..., None]
    rgb = np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def _room(rng, width, height) -> Image.Image:
    wall = rng.uniform(0.45, 0.95) * (1 - rng.uniform(0, 0.25, 3))
    floor = rng.uniform(0.2, 0.75) * (1 - rng.uniform(0, 0.35, 3))
    horizon = rng.uniform(0.55, 0.95) * height
    image = _gradient(width, height, wall, wall * 0.85, np.pi / 2)
    draw = ImageDraw.Draw(image)
    c = lambda v: tuple(int(255 * np.clip(x, 0, 1)) for x in v)  # noqa: E731
    for _ in range(int(rng.integers(0, 3))):  # frames, doors, windows
        x0, y0 = rng.uniform(-0.2, 0.9) * width, rng.uniform(0.0, 0.5) * horizon
        w, h = rng.uniform(0.15, 0.5) * width, rng.uniform(0.2, 0.7) * horizon
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=c(rng.uniform(0.1, 0.95, 3)), outline=c(wall * 0.6), width=3)
    draw.rectangle([0, horizon, width, height], fill=c(floor))
    draw.rectangle([0, horizon - 4, width, horizon], fill=c(wall * 0.7))
    if rng.random() < 0.5:  # tiles / boards in perspective
        for k in range(-8, 9):
            x = width / 2 + k * width * 0.18
            draw.line([(width / 2 + k * width * 0.05, horizon), (x + (x - width / 2) * 1.5, height)], fill=c(floor * 0.8), width=1)
    return image


def _street(rng, width, height) -> Image.Image:
    sky = np.array([0.6, 0.75, 0.95]) * rng.uniform(0.8, 1.05)
    image = _gradient(width, height, sky, sky * 0.9, np.pi / 2)
    draw = ImageDraw.Draw(image)
    c = lambda v: tuple(int(255 * np.clip(x, 0, 1)) for x in v)  # noqa: E731
    ground = rng.uniform(0.6, 0.95) * height
    x = -rng.uniform(0, 0.3) * width
    while x < width:
        w = rng.uniform(0.25, 0.7) * width
        top = rng.uniform(-0.2, 0.4) * height
        tone = rng.choice([0, 1, 2])
        colour = [np.full(3, rng.uniform(0.4, 0.85)), np.array([0.6, 0.3, 0.2]) * rng.uniform(0.7, 1.2),
                  np.array([0.85, 0.78, 0.62]) * rng.uniform(0.7, 1.1)][tone]
        draw.rectangle([x, top, x + w, ground], fill=c(colour))
        step_x, step_y = rng.uniform(0.08, 0.16) * width, rng.uniform(0.1, 0.2) * height
        glass = c(rng.uniform(0.1, 0.5, 3))
        for wx in np.arange(x + step_x * 0.3, x + w - step_x * 0.5, step_x):
            for wy in np.arange(top + step_y * 0.3, ground - step_y * 0.6, step_y):
                draw.rectangle([wx, wy, wx + step_x * 0.55, wy + step_y * 0.55], fill=glass)
        x += w
    draw.rectangle([0, ground, width, height], fill=c(np.full(3, rng.uniform(0.35, 0.7))))
    return image


def _photometric(rng, image: np.ndarray, shop: bool) -> tuple[np.ndarray, int]:
    if shop:
        return image, int(rng.integers(85, 96))
    out = image.astype(np.float32) / 255.0
    gain = rng.uniform(0.75, 1.15) * rng.uniform(0.92, 1.08, 3)
    contrast = rng.uniform(0.8, 1.15)
    mean = out.mean()
    out = (out - mean) * contrast + mean
    out = np.clip(out * gain, 0, 1) ** rng.uniform(0.85, 1.15)
    if rng.random() < 0.4:  # uneven light
        h, w = out.shape[:2]
        angle = rng.uniform(0, 2 * np.pi)
        xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
        ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
        out = out * (1 + rng.uniform(0.1, 0.35) * (np.cos(angle) * xs + np.sin(angle) * ys))[..., None]
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(0.003, 0.02), out.shape).astype(np.float32)
    result = (np.clip(out, 0, 1) * 255).astype(np.uint8)
    if rng.random() < 0.3:
        result = np.asarray(Image.fromarray(result).filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2))))
    return result, int(rng.integers(55, 96))


# --------------------------------------------------------------------------- shapes


def _ellipse(centre, rx, ry, angle=0.0, n=24) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([np.cos(t) * rx, np.sin(t) * ry], axis=1)
    c, s = np.cos(angle), np.sin(angle)
    pts = pts @ np.array([[c, s], [-s, c]])
    return pts + np.asarray(centre)


def _disc(centre, r, n=16) -> np.ndarray:
    return _ellipse(centre, r, r, 0.0, n)


def _rot(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])
