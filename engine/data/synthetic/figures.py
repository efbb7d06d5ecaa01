"""People of the synthetic set: build, pose, skeleton (FLD's 14 joints) and body outlines.

Body space: y down, the standing figure's head top at y = 0 and soles near
y = 1 (units of body height), x = 0 on the body's axis. The figure faces the
camera, so side 0 (image left, x < 0) is the wearer's right: FLD's
``right_*`` joints sit at side 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.types import JOINT_NAMES

SKIN_TONES = [
    (0.98, 0.87, 0.78), (0.95, 0.80, 0.69), (0.90, 0.74, 0.60), (0.84, 0.66, 0.52),
    (0.76, 0.57, 0.43), (0.65, 0.47, 0.34), (0.55, 0.38, 0.27), (0.42, 0.29, 0.21), (0.33, 0.22, 0.16),
]
HAIR_COLOURS = [
    (0.08, 0.06, 0.05), (0.15, 0.10, 0.07), (0.30, 0.20, 0.12), (0.48, 0.33, 0.2),
    (0.75, 0.6, 0.38), (0.88, 0.78, 0.55), (0.55, 0.22, 0.1), (0.6, 0.6, 0.6),
]
MANNEQUIN_TONES = [(0.93, 0.93, 0.92), (0.85, 0.84, 0.82), (0.25, 0.25, 0.26), (0.86, 0.76, 0.64)]


@dataclass
class Build:
    head_h: float
    head_w: float
    neck_w: float
    shoulder_w: float  # half widths from here on
    chest_w: float
    waist_w: float
    hip_w: float
    y_neck: float
    y_shoulder: float
    y_armpit: float
    y_waist: float
    y_hip: float
    y_crotch: float
    upper_arm: float
    forearm: float
    arm_w: float
    thigh: float
    shin: float
    thigh_w: float
    calf_w: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_style: str  # short, long, bun, bald
    mannequin: bool = False


@dataclass
class Pose:
    arm_angle: tuple[float, float]  # upper arm from straight down, outward positive (radians)
    elbow_bend: tuple[float, float]  # forearm turns inward by this much
    leg_angle: tuple[float, float]
    knee_bend: tuple[float, float]
    lean: float  # torso rotation about the pelvis
    head_tilt: float
    yaw: float  # 1 frontal, smaller = turned (widths shrink)
    far_side: int  # arm drawn behind the torso when turned: 0, 1 or -1 none
    magnitude: int  # 1 normal, 2 medium, 3 large (FLD variation type)


def random_build(rng: np.random.Generator, mannequin: bool = False) -> Build:
    masc = rng.random()  # 0 slim / feminine build .. 1 broad
    head_h = rng.uniform(0.115, 0.135)
    y_neck = head_h + rng.uniform(0.025, 0.04)
    y_shoulder = y_neck + rng.uniform(0.02, 0.03)
    y_hip = rng.uniform(0.49, 0.54)
    y_waist = y_shoulder + (y_hip - y_shoulder) * rng.uniform(0.58, 0.68)
    shoulder_w = rng.uniform(0.1, 0.115) + 0.02 * masc
    hip_w = rng.uniform(0.085, 0.105) + 0.02 * (1 - masc) + rng.uniform(0, 0.02)
    waist_w = min(hip_w, shoulder_w) * rng.uniform(0.68, 0.9)
    legs = 0.96 - y_hip
    thigh = legs * rng.uniform(0.49, 0.52)
    if mannequin:
        skin = MANNEQUIN_TONES[rng.integers(len(MANNEQUIN_TONES))]
    else:
        skin = tuple(float(np.clip(c + rng.normal(0, 0.02), 0, 1)) for c in SKIN_TONES[rng.integers(len(SKIN_TONES))])
    return Build(
        head_h=head_h,
        head_w=head_h * rng.uniform(0.36, 0.42),
        neck_w=rng.uniform(0.022, 0.03),
        shoulder_w=shoulder_w,
        chest_w=shoulder_w * rng.uniform(0.8, 0.9),
        waist_w=waist_w,
        hip_w=hip_w,
        y_neck=y_neck,
        y_shoulder=y_shoulder,
        y_armpit=y_shoulder + rng.uniform(0.06, 0.08),
        y_waist=y_waist,
        y_hip=y_hip,
        y_crotch=y_hip + rng.uniform(0.03, 0.045),
        upper_arm=rng.uniform(0.17, 0.19),
        forearm=rng.uniform(0.15, 0.165),
        arm_w=rng.uniform(0.022, 0.03) + 0.006 * masc,
        thigh=thigh,
        shin=legs - thigh,
        thigh_w=rng.uniform(0.04, 0.055),
        calf_w=rng.uniform(0.025, 0.033),
        skin=skin,
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))],
        hair_style="bald" if mannequin else str(rng.choice(["short", "long", "long", "bun"])),
        mannequin=mannequin,
    )


def random_pose(rng: np.random.Generator, neutral: bool = False) -> Pose:
    if neutral:
        arms = (np.radians(rng.uniform(16, 24)),) * 2
        return Pose(arms, (0.1, 0.1), (np.radians(4),) * 2, (0.0, 0.0), 0.0, 0.0, 1.0, -1, 1)
    style = rng.choice(["relaxed", "relaxed", "hips", "crossed", "raised", "walking"], p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.15])
    arm_angle, elbow = [], []
    for side in range(2):
        if style == "hips" and (side == 0 or rng.random() < 0.6):
            a, e = rng.uniform(35, 55), rng.uniform(80, 110)
        elif style == "crossed" and (side == 1 or rng.random() < 0.5):
            a, e = rng.uniform(-5, 12), rng.uniform(105, 135)
        elif style == "raised" and (side == 1 or rng.random() < 0.3):
            a, e = rng.uniform(60, 120), rng.uniform(-10, 90)
        else:
            a, e = rng.uniform(3, 25), rng.uniform(0, 30)
        arm_angle.append(np.radians(a))
        elbow.append(np.radians(e))
    spread = 10 if style == "walking" else 6
    legs = [np.radians(rng.uniform(-2, spread)) for _ in range(2)]
    knees = [np.radians(rng.uniform(0, 12)) for _ in range(2)]
    if style == "walking":
        legs[int(rng.integers(2))] = np.radians(rng.uniform(-8, -2))  # one leg crosses a little
    lean = np.radians(rng.normal(0, 3.5))
    yaw = 1.0 if rng.random() < 0.6 else rng.uniform(0.6, 0.95)
    far_side = int(rng.integers(2)) if yaw < 0.85 else -1
    magnitude = 1
    big = max(abs(np.degrees(a)) for a in arm_angle)
    if style in ("hips", "crossed") or big > 40 or abs(np.degrees(lean)) > 4 or yaw < 0.85:
        magnitude = 2
    if style == "raised" or yaw < 0.7 or abs(np.degrees(lean)) > 7:
        magnitude = 3
    return Pose(
        arm_angle=tuple(arm_angle), elbow_bend=tuple(elbow), leg_angle=tuple(legs), knee_bend=tuple(knees),
        lean=float(lean), head_tilt=float(np.radians(rng.normal(0, 5))), yaw=float(yaw),
        far_side=far_side, magnitude=magnitude,
    )


@dataclass
class Figure:
    """A posed person in body space: joints, limb chains and the torso outline."""

    build: Build
    pose: Pose
    joints: dict[str, np.ndarray] = field(default_factory=dict)
    arms: list[np.ndarray] = field(default_factory=list)  # per side: shoulder, elbow, wrist, hand tip
    legs: list[np.ndarray] = field(default_factory=list)  # per side: hip, knee, ankle

    @classmethod
    def make(cls, build: Build, pose: Pose) -> "Figure":
        figure = cls(build, pose)
        figure._skeleton()
        return figure

    # widths shrink when the person turns
    def width(self, value: float) -> float:
        return value * self.pose.yaw

    def half_width(self, y: float) -> float:
        """Half width of the bare torso / hips at height y (unwarped)."""
        b = self.build
        ys = [b.y_shoulder, b.y_armpit, b.y_waist, b.y_hip, b.y_crotch + 0.05]
        ws = [b.shoulder_w * 0.95, b.chest_w, b.waist_w, b.hip_w, b.hip_w * 0.98]
        return self.width(float(np.interp(y, ys, ws)))

    def warp(self, points: np.ndarray) -> np.ndarray:
        """Lean the upper body: rotate about the pelvis, fully above the waist, fading to none at the hips."""
        points = np.asarray(points, np.float64)
        b = self.build
        weight = np.clip((b.y_hip - points[..., 1]) / (b.y_hip - b.y_waist), 0, 1)
        angle = self.pose.lean * weight
        cx, cy = 0.0, b.y_hip
        dx, dy = points[..., 0] - cx, points[..., 1] - cy
        c, s = np.cos(angle), np.sin(angle)
        return np.stack([cx + c * dx - s * dy, cy + s * dx + c * dy], axis=-1)

    def _skeleton(self) -> None:
        b, p = self.build, self.pose
        sign = (-1.0, 1.0)
        neck = self.warp(np.array([0.0, b.y_neck]))
        head_centre = neck + _rotate(np.array([0.0, -(b.y_neck - b.head_h / 2)]), p.lean + p.head_tilt)
        self.joints["head"] = head_centre
        self.joints["neck"] = neck
        for side in range(2):
            shoulder = self.warp(np.array([sign[side] * self.width(b.shoulder_w - 0.022), b.y_shoulder + 0.018]))
            upper = np.array([sign[side] * np.sin(p.arm_angle[side]), np.cos(p.arm_angle[side])])
            upper = _rotate(upper, p.lean)
            elbow = shoulder + upper * b.upper_arm
            fore_angle = p.arm_angle[side] - p.elbow_bend[side]
            fore = _rotate(np.array([sign[side] * np.sin(fore_angle), np.cos(fore_angle)]), p.lean)
            wrist = elbow + fore * b.forearm
            hand = wrist + fore * 0.075
            self.arms.append(np.stack([shoulder, elbow, wrist, hand]))
            hip = np.array([sign[side] * self.width(b.hip_w * 0.52), b.y_hip])
            thigh = np.array([sign[side] * np.sin(p.leg_angle[side]), np.cos(p.leg_angle[side])])
            knee = hip + thigh * b.thigh
            shin_angle = p.leg_angle[side] - p.knee_bend[side] * 0.3
            ankle = knee + np.array([sign[side] * np.sin(shin_angle), np.cos(shin_angle)]) * b.shin
            self.legs.append(np.stack([hip, knee, ankle]))
        # FLD joints: right_* is the wearer's right = image side 0 for a person facing the camera.
        for side, name in ((0, "right"), (1, "left")):
            shoulder, elbow, wrist, _ = self.arms[side]
            hip, knee, ankle = self.legs[side]
            self.joints.update({
                f"{name}_shoulder": shoulder, f"{name}_elbow": elbow, f"{name}_wrist": wrist,
                f"{name}_hip": hip, f"{name}_knee": knee, f"{name}_ankle": ankle,
            })

    def joint_array(self) -> np.ndarray:
        return np.stack([self.joints[name] for name in JOINT_NAMES])

    def extent(self) -> tuple[float, float, float, float]:
        """Body-space bounding box of the whole person."""
        pts = np.concatenate(
            [self.joint_array(), *self.arms, *self.legs, np.array([[0.0, 0.0], [0.0, 1.0]]),
             self.warp(np.array([[-self.build.shoulder_w, 0.3], [self.build.shoulder_w, 0.3]]))]
        )
        return (pts[:, 0].min() - 0.04, pts[:, 1].min() - 0.01, pts[:, 0].max() + 0.04, max(pts[:, 1].max(), 0.99) + 0.02)

    # ------------------------------------------------------------------ outlines (body space)

    def torso_polygon(self) -> np.ndarray:
        b = self.build
        left = [
            (-self.width(b.neck_w), b.y_neck - 0.01),
            (-self.width(b.neck_w) * 1.2, b.y_neck + 0.005),
            (-self.width(b.shoulder_w * 0.92), b.y_shoulder + 0.005),
            (-self.width(b.shoulder_w), b.y_shoulder + 0.025),
            (-self.width(b.chest_w), b.y_armpit),
            (-self.width(b.waist_w), b.y_waist),
            (-self.width(b.hip_w), b.y_hip),
            (-self.width(b.hip_w) * 0.98, b.y_crotch + 0.03),
        ]
        right = [(-x, y) for x, y in reversed(left)]
        return self.warp(densify(np.array(left + right)))

    def neck_polygon(self) -> np.ndarray:
        b = self.build
        top = self.joints["head"] + _rotate(np.array([0.0, b.head_h * 0.3]), self.pose.lean)
        w = self.width(b.neck_w) * 0.95
        base = self.warp(np.array([[-w * 1.1, b.y_neck + 0.02], [w * 1.1, b.y_neck + 0.02]]))
        return np.array([top + [-w, 0], top + [w, 0], base[1], base[0]])

    def arm_tube(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        b = self.build
        chain = self.arms[side][:3]
        widths = np.array([b.arm_w * 1.1, b.arm_w * 0.82, b.arm_w * 0.62])
        return chain, widths

    def leg_tube(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        b = self.build
        chain = self.legs[side]
        top = chain[0] + np.array([0.0, -0.015])
        widths = np.array([b.thigh_w * 1.15, b.calf_w * 1.1, b.calf_w * 0.7])
        return np.stack([top, chain[1], chain[2]]), widths


def densify(points: np.ndarray, step: float = 0.02, closed: bool = True) -> np.ndarray:
    """Insert points so no edge is longer than ``step`` (so warps bend edges smoothly)."""
    points = np.asarray(points, np.float64)
    out = []
    n = len(points)
    for i in range(n if closed else n - 1):
        a, b = points[i], points[(i + 1) % n]
        k = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        for t in range(k):
            out.append(a + (b - a) * t / k)
    if not closed:
        out.append(points[-1])
    return np.array(out)


def tube(chain: np.ndarray, half_widths: np.ndarray) -> np.ndarray:
    """Polygon around a polyline with a half width per vertex (mitred joints)."""
    chain = np.asarray(chain, np.float64)
    half_widths = np.asarray(half_widths, np.float64)
    d = np.diff(chain, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    normals = np.stack([-d[:, 1], d[:, 0]], axis=1)
    vertex_normals = np.empty_like(chain)
    vertex_normals[0], vertex_normals[-1] = normals[0], normals[-1]
    for i in range(1, len(chain) - 1):
        m = normals[i - 1] + normals[i]
        m /= max(np.linalg.norm(m), 1e-9)
        cos = max(float(np.dot(m, normals[i])), 0.5)
        vertex_normals[i] = m / cos
    a = chain + vertex_normals * half_widths[:, None]
    b = chain - vertex_normals * half_widths[:, None]
    return np.concatenate([a, b[::-1]])


def tube_end(chain: np.ndarray, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """The two corners of a tube's far end (same construction as ``tube``)."""
    d = chain[-1] - chain[-2]
    d /= max(np.linalg.norm(d), 1e-9)
    n = np.array([-d[1], d[0]])
    return chain[-1] + n * half_width, chain[-1] - n * half_width


def cut_chain(chain: np.ndarray, fraction: float) -> np.ndarray:
    """The polyline from its start to ``fraction`` of its length."""
    seg = np.linalg.norm(np.diff(chain, axis=0), axis=1)
    target = float(np.clip(fraction, 1e-3, 1.0)) * seg.sum()
    out = [chain[0]]
    run = 0.0
    for i, length in enumerate(seg):
        if run + length >= target - 1e-12:
            t = (target - run) / max(length, 1e-12)
            out.append(chain[i] + (chain[i + 1] - chain[i]) * t)
            return np.array(out)
        run += length
        out.append(chain[i + 1])
    return np.array(out)


def interp_widths(chain: np.ndarray, cut: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Widths of ``widths`` (per vertex of ``chain``) at the vertices of a cut prefix of it."""
    full = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(chain, axis=0), axis=1))])
    part = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(cut, axis=0), axis=1))])
    return np.interp(part, full, widths)


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])
