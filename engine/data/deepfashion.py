"""Readers and writers of DeepFashion's benchmark files: FLD and Consumer-to-shop.

This is the one place that maps FLD's landmark columns to slot names: the
columns of a row mean different slots per clothes type (SLOTS_BY_TYPE), and a
row may carry just that type's triples or be zero-padded to eight.

File conventions (all text, whitespace separated, line 1 a count, line 2 a header):

FLD root
    img/...jpg
    Anno/list_landmarks.txt     image_name clothes_type variation_type (visibility x y) * n
    Anno/list_bbox.txt          image_name x_1 y_1 x_2 y_2
    Anno/list_joints.txt        image_name clothes_type variation_type (visibility x y) * 14, JOINT_NAMES order
    Eval/list_eval_partition.txt  image_name evaluation_status

Consumer-to-shop root
    Anno/list_bbox_consumer2shop.txt      image_name clothes_type source_type x_1 y_1 x_2 y_2 (1 shop, 2 consumer)
    Eval/list_eval_partition.txt          image_pair_name_1 image_pair_name_2 item_id evaluation_status
    and, optional (the synthetic set writes them, the real benchmark lacks them):
    Anno/list_landmarks_consumer2shop.txt same rows as FLD's list_landmarks.txt
    Anno/list_category_cloth.txt / list_category_img.txt   (Category-and-Attribute style)
    Anno/list_attr_cloth.txt / list_attr_img.txt            (labels 1 / -1, 0 read as absent)

Visibility codes are FLD's (0 visible, 1 occluded, 2 absent / cut off). Joint
visibility in list_joints.txt uses the same codes; a record keeps joints as
(x, y, visible) with visible = 1 for code 0, else 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from engine.types import (
    JOINT_NAMES,
    LANDMARK_SLOTS,
    NUM_JOINTS,
    NUM_SLOTS,
    SLOT_INDEX,
    SLOTS_BY_TYPE,
    Box,
    GarmentType,
    Visibility,
)

SPLITS = ("train", "val", "test")
SOURCE_CODES = {"shop": 1, "consumer": 2}

FLD_LANDMARKS = "Anno/list_landmarks.txt"
FLD_BBOX = "Anno/list_bbox.txt"
FLD_JOINTS = "Anno/list_joints.txt"
EVAL_PARTITION = "Eval/list_eval_partition.txt"
C2S_BBOX = "Anno/list_bbox_consumer2shop.txt"
C2S_LANDMARKS = "Anno/list_landmarks_consumer2shop.txt"
CATEGORY_CLOTH = "Anno/list_category_cloth.txt"
CATEGORY_IMG = "Anno/list_category_img.txt"
ATTR_CLOTH = "Anno/list_attr_cloth.txt"
ATTR_IMG = "Anno/list_attr_img.txt"

_LANDMARK_HEADER = "image_name clothes_type variation_type " + " ".join(
    f"landmark_visibility_{i} landmark_location_x_{i} landmark_location_y_{i}" for i in range(1, NUM_SLOTS + 1)
)
_JOINT_HEADER = "image_name clothes_type variation_type " + " ".join(
    f"joint_visibility_{i} joint_location_x_{i} joint_location_y_{i}" for i in range(1, NUM_JOINTS + 1)
)


@dataclass
class LandmarkRecord:
    """One garment of one image: its type, landmarks in image pixels and optional box / joints.

    points (8, 2) float32 and visibility (8,) int64 follow LANDMARK_SLOTS; slots the
    garment type lacks are ABSENT. joints (14, 3) float32 is x, y, visible (0/1) in
    JOINT_NAMES order. ``image_path`` is absolute (root / image_name).
    """

    image_path: Path
    garment_type: GarmentType
    variation: int
    points: np.ndarray
    visibility: np.ndarray
    box: Box | None = None
    joints: np.ndarray | None = None
    split: str = "train"

    def __post_init__(self) -> None:
        self.image_path = Path(self.image_path)
        self.garment_type = GarmentType.parse(self.garment_type)
        self.points = np.asarray(self.points, dtype=np.float32).reshape(NUM_SLOTS, 2)
        self.visibility = np.asarray(self.visibility, dtype=np.int64).reshape(NUM_SLOTS)
        if self.joints is not None:
            self.joints = np.asarray(self.joints, dtype=np.float32).reshape(NUM_JOINTS, 3)


@dataclass
class Consumer2ShopImage:
    """One image of the consumer-to-shop set. Optional fields are None when their file is missing."""

    image_path: Path
    garment_type: GarmentType
    source: str  # 'shop' | 'consumer'
    box: Box
    item_id: str | None = None
    split: str | None = None
    variation: int | None = None
    points: np.ndarray | None = None
    visibility: np.ndarray | None = None
    category: int | None = None  # 0-based index into Consumer2ShopSet.category_names
    attributes: np.ndarray | None = None  # (A,) int64 0/1 over Consumer2ShopSet.attribute_names


@dataclass
class Consumer2ShopPair:
    consumer: Path
    shop: Path
    item_id: str
    split: str


@dataclass
class Consumer2ShopSet:
    root: Path
    images: list[Consumer2ShopImage]
    pairs: list[Consumer2ShopPair]
    category_names: list[str] | None = None
    category_types: list[GarmentType] | None = None
    attribute_names: list[str] | None = None
    attribute_types: list[int] | None = None
    _by_path: dict[Path, Consumer2ShopImage] = field(default_factory=dict, repr=False)

    def image(self, path: "str | Path") -> Consumer2ShopImage:
        if not self._by_path:
            self._by_path = {image.image_path: image for image in self.images}
        return self._by_path[Path(path)]


# --------------------------------------------------------------------------- FLD


def read_fld(root: "str | Path", split: str | None = None) -> list[LandmarkRecord]:
    """Read an FLD-layout folder. ``split`` keeps only train / val / test records.

    list_landmarks.txt is required; list_bbox.txt, list_joints.txt and
    Eval/list_eval_partition.txt are used when present (no partition: every
    record is 'train').
    """
    root = Path(root)
    landmark_rows = _read_landmark_file(root / FLD_LANDMARKS)
    boxes = _read_bbox_file(root / FLD_BBOX) if (root / FLD_BBOX).exists() else {}
    joints = _read_joints_file(root / FLD_JOINTS) if (root / FLD_JOINTS).exists() else {}
    partition = _read_partition_file(root / EVAL_PARTITION) if (root / EVAL_PARTITION).exists() else {}
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    records = []
    for name, garment_type, variation, points, visibility in landmark_rows:
        record_split = partition.get(name, "train")
        if split is not None and record_split != split:
            continue
        records.append(
            LandmarkRecord(
                image_path=root / name,
                garment_type=garment_type,
                variation=variation,
                points=points,
                visibility=visibility,
                box=boxes.get(name),
                joints=joints.get(name),
                split=record_split,
            )
        )
    return records


def write_fld(root: "str | Path", records: Sequence[LandmarkRecord], pad: bool = False) -> Path:
    """Write records as an FLD layout under ``root`` (annotation files only; images are the caller's).

    Image names are the records' paths relative to ``root``. ``pad`` zero-pads every
    landmark row to eight triples as the released FLD files do. Bbox and joint files
    are written when every record has a box / joints.
    """
    root = Path(root)
    names = [_relative_name(root, record.image_path) for record in records]
    landmark_lines = [
        _landmark_row(name, record.garment_type, record.variation, record.points, record.visibility, pad)
        for name, record in zip(names, records)
    ]
    _write_table(root / FLD_LANDMARKS, _LANDMARK_HEADER, landmark_lines)
    if records and all(record.box is not None for record in records):
        lines = [f"{name} {_box_text(record.box)}" for name, record in zip(names, records)]
        _write_table(root / FLD_BBOX, "image_name x_1 y_1 x_2 y_2", lines)
    if records and all(record.joints is not None for record in records):
        lines = [
            _joint_row(name, record.garment_type, record.variation, record.joints) for name, record in zip(names, records)
        ]
        _write_table(root / FLD_JOINTS, _JOINT_HEADER, lines)
    lines = [f"{name} {_check_split(record.split)}" for name, record in zip(names, records)]
    _write_table(root / EVAL_PARTITION, "image_name evaluation_status", lines)
    return root


# --------------------------------------------------------------------------- Consumer-to-shop


def read_consumer2shop(root: "str | Path") -> Consumer2ShopSet:
    """Read a Consumer-to-shop layout: boxes and pairs (required), landmarks, categories, attributes (optional)."""
    root = Path(root)
    images: dict[str, Consumer2ShopImage] = {}
    for line_number, tokens in _table_rows(root / C2S_BBOX, min_columns=7):
        path = root / C2S_BBOX
        if len(tokens) != 7:
            raise ValueError(f"{path}, line {line_number}: expected 7 columns, got {len(tokens)}")
        name = tokens[0]
        garment_type = _parse_garment_type(path, line_number, tokens[1])
        source_code = _parse_int(path, line_number, tokens[2], "source_type")
        if source_code not in (1, 2):
            raise ValueError(f"{path}, line {line_number}: source_type {source_code} must be 1 (shop) or 2 (consumer)")
        images[name] = Consumer2ShopImage(
            image_path=root / name,
            garment_type=garment_type,
            source="shop" if source_code == 1 else "consumer",
            box=_parse_box(path, line_number, tokens[3:7]),
        )
    pairs = []
    path = root / EVAL_PARTITION
    for line_number, tokens in _table_rows(path, min_columns=4):
        if len(tokens) != 4:
            raise ValueError(f"{path}, line {line_number}: expected 4 columns, got {len(tokens)}")
        consumer, shop, item_id, split = tokens
        if split not in SPLITS:
            raise ValueError(f"{path}, line {line_number}: evaluation_status {split!r} must be train, val or test")
        pairs.append(Consumer2ShopPair(root / consumer, root / shop, item_id, split))
        for name in (consumer, shop):
            if name in images:
                images[name].item_id = item_id
                images[name].split = split
    if (root / C2S_LANDMARKS).exists():
        for name, garment_type, variation, points, visibility in _read_landmark_file(root / C2S_LANDMARKS):
            if name in images:
                images[name].variation, images[name].points, images[name].visibility = variation, points, visibility
    category_names = category_types = attribute_names = attribute_types = None
    if (root / CATEGORY_CLOTH).exists():
        category_names, codes, lines = _read_name_list(root / CATEGORY_CLOTH)
        category_types = [_parse_garment_type(root / CATEGORY_CLOTH, line, str(code)) for line, code in zip(lines, codes)]
        if (root / CATEGORY_IMG).exists():
            path = root / CATEGORY_IMG
            for line_number, tokens in _table_rows(path, min_columns=2):
                label = _parse_int(path, line_number, tokens[1], "category_label")
                if not 1 <= label <= len(category_names):
                    raise ValueError(f"{path}, line {line_number}: category_label {label} outside 1..{len(category_names)}")
                if tokens[0] in images:
                    images[tokens[0]].category = label - 1
    if (root / ATTR_CLOTH).exists():
        attribute_names, attribute_types, _ = _read_name_list(root / ATTR_CLOTH)
        if (root / ATTR_IMG).exists():
            path = root / ATTR_IMG
            for line_number, tokens in _table_rows(path, min_columns=2):
                if len(tokens) != 1 + len(attribute_names):
                    raise ValueError(
                        f"{path}, line {line_number}: expected {len(attribute_names)} attribute labels, "
                        f"got {len(tokens) - 1}"
                    )
                values = [_parse_int(path, line_number, token, "attribute label") for token in tokens[1:]]
                if tokens[0] in images:
                    images[tokens[0]].attributes = (np.asarray(values) == 1).astype(np.int64)
    return Consumer2ShopSet(
        root=root,
        images=list(images.values()),
        pairs=pairs,
        category_names=category_names,
        category_types=category_types,
        attribute_names=attribute_names,
        attribute_types=attribute_types,
    )


def write_consumer2shop(
    root: "str | Path",
    images: Sequence[Consumer2ShopImage],
    pairs: Sequence[Consumer2ShopPair],
    category_names: Sequence[str] | None = None,
    category_types: Sequence[GarmentType] | None = None,
    attribute_names: Sequence[str] | None = None,
    attribute_types: Sequence[int] | None = None,
) -> Path:
    """Write the consumer-to-shop files; landmark / category / attribute files when every image has them."""
    root = Path(root)
    names = [_relative_name(root, image.image_path) for image in images]
    lines = [
        f"{name} {image.garment_type.fld_code} {SOURCE_CODES[image.source]} {_box_text(image.box)}"
        for name, image in zip(names, images)
    ]
    _write_table(root / C2S_BBOX, "image_name clothes_type source_type x_1 y_1 x_2 y_2", lines)
    lines = [
        f"{_relative_name(root, pair.consumer)} {_relative_name(root, pair.shop)} {pair.item_id} {_check_split(pair.split)}"
        for pair in pairs
    ]
    _write_table(root / EVAL_PARTITION, "image_pair_name_1 image_pair_name_2 item_id evaluation_status", lines)
    if images and all(image.points is not None and image.visibility is not None for image in images):
        lines = [
            _landmark_row(name, image.garment_type, image.variation or 1, image.points, image.visibility, pad=False)
            for name, image in zip(names, images)
        ]
        _write_table(root / C2S_LANDMARKS, _LANDMARK_HEADER, lines)
    if category_names is not None:
        types = category_types or [GarmentType.UPPER] * len(category_names)
        lines = [f"{name} {GarmentType.parse(t).fld_code}" for name, t in zip(category_names, types)]
        _write_table(root / CATEGORY_CLOTH, "category_name category_type", lines)
        if images and all(image.category is not None for image in images):
            lines = [f"{name} {image.category + 1}" for name, image in zip(names, images)]
            _write_table(root / CATEGORY_IMG, "image_name category_label", lines)
    if attribute_names is not None:
        types = attribute_types or [1] * len(attribute_names)
        lines = [f"{name} {int(t)}" for name, t in zip(attribute_names, types)]
        _write_table(root / ATTR_CLOTH, "attribute_name attribute_type", lines)
        if images and all(image.attributes is not None for image in images):
            lines = [
                name + " " + " ".join("1" if v else "-1" for v in np.asarray(image.attributes).reshape(-1))
                for name, image in zip(names, images)
            ]
            _write_table(root / ATTR_IMG, "image_name attribute_labels", lines)
    return root


# --------------------------------------------------------------------------- row formats


def _landmark_row(
    name: str, garment_type: GarmentType, variation: int, points: np.ndarray, visibility: np.ndarray, pad: bool
) -> str:
    garment_type = GarmentType.parse(garment_type)
    slots = SLOTS_BY_TYPE[garment_type]
    parts = [name, str(garment_type.fld_code), str(int(variation))]
    for slot in slots:
        i = SLOT_INDEX[slot]
        parts += [str(int(visibility[i])), _number(points[i, 0]), _number(points[i, 1])]
    if pad:
        parts += ["0", "0", "0"] * (NUM_SLOTS - len(slots))
    return " ".join(parts)


def _joint_row(name: str, garment_type: GarmentType, variation: int, joints: np.ndarray) -> str:
    parts = [name, str(GarmentType.parse(garment_type).fld_code), str(int(variation))]
    for x, y, visible in np.asarray(joints, dtype=np.float64).reshape(NUM_JOINTS, 3):
        parts += ["0" if visible > 0.5 else "1", _number(x), _number(y)]
    return " ".join(parts)


def _read_landmark_file(path: Path) -> list[tuple[str, GarmentType, int, np.ndarray, np.ndarray]]:
    rows = []
    for line_number, tokens in _table_rows(path, min_columns=3):
        name = tokens[0]
        garment_type = _parse_garment_type(path, line_number, tokens[1])
        variation = _parse_int(path, line_number, tokens[2], "variation_type")
        slots = SLOTS_BY_TYPE[garment_type]
        values = tokens[3:]
        if len(values) not in (3 * len(slots), 3 * NUM_SLOTS):
            raise ValueError(
                f"{path}, line {line_number}: a {garment_type.value} row needs {len(slots)} "
                f"(or {NUM_SLOTS}, zero-padded) visibility/x/y triples after the first 3 columns, "
                f"got {len(values)} values"
            )
        points = np.zeros((NUM_SLOTS, 2), np.float32)
        visibility = np.full(NUM_SLOTS, int(Visibility.ABSENT), np.int64)
        for k, slot in enumerate(slots):  # the first len(slots) triples; padding after them is ignored
            code = _parse_int(path, line_number, values[3 * k], f"visibility of {slot}")
            if code not in (0, 1, 2):
                raise ValueError(f"{path}, line {line_number}: visibility {code} of {slot} must be 0, 1 or 2")
            i = SLOT_INDEX[slot]
            visibility[i] = code
            points[i] = (_parse_float(path, line_number, values[3 * k + 1]), _parse_float(path, line_number, values[3 * k + 2]))
        rows.append((name, garment_type, variation, points, visibility))
    return rows


def _read_bbox_file(path: Path) -> dict[str, Box]:
    boxes = {}
    for line_number, tokens in _table_rows(path, min_columns=5):
        if len(tokens) != 5:
            raise ValueError(f"{path}, line {line_number}: expected 5 columns (image_name x_1 y_1 x_2 y_2), got {len(tokens)}")
        boxes[tokens[0]] = _parse_box(path, line_number, tokens[1:5])
    return boxes


def _read_joints_file(path: Path) -> dict[str, np.ndarray]:
    joints = {}
    for line_number, tokens in _table_rows(path, min_columns=3):
        values = tokens[3:]
        if len(values) != 3 * NUM_JOINTS:
            raise ValueError(
                f"{path}, line {line_number}: expected {NUM_JOINTS} joint triples ({', '.join(JOINT_NAMES)}), "
                f"got {len(values)} values"
            )
        array = np.zeros((NUM_JOINTS, 3), np.float32)
        for k in range(NUM_JOINTS):
            code = _parse_int(path, line_number, values[3 * k], "joint visibility")
            array[k] = (
                _parse_float(path, line_number, values[3 * k + 1]),
                _parse_float(path, line_number, values[3 * k + 2]),
                1.0 if code == 0 else 0.0,
            )
        joints[tokens[0]] = array
    return joints


def _read_partition_file(path: Path) -> dict[str, str]:
    partition = {}
    for line_number, tokens in _table_rows(path, min_columns=2):
        if len(tokens) != 2 or tokens[1] not in SPLITS:
            raise ValueError(f"{path}, line {line_number}: expected 'image_name train|val|test', got {' '.join(tokens)!r}")
        partition[tokens[0]] = tokens[1]
    return partition


def _read_name_list(path: Path) -> tuple[list[str], list[int], list[int]]:
    """Category / attribute list: names (which may hold spaces, as DeepFashion's attributes do), the type
    code that ends each row, and each row's line number (for errors about it)."""
    names, codes, lines = [], [], []
    for line_number, tokens in _table_rows(path, min_columns=2):
        names.append(" ".join(tokens[:-1]))
        codes.append(_parse_int(path, line_number, tokens[-1], "type"))
        lines.append(line_number)
    return names, codes, lines


def _table_rows(path: Path, min_columns: int) -> Iterable[tuple[int, list[str]]]:
    """Rows after the count and header lines, as (1-based line number, tokens); checks the count."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; expected a DeepFashion annotation file here")
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a count on line 1 and a header on line 2")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise ValueError(f"{path}, line 1: expected the number of rows, got {lines[0]!r}") from None
    rows = []
    for line_number, line in enumerate(lines[2:], start=3):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < min_columns:
            raise ValueError(f"{path}, line {line_number}: expected at least {min_columns} columns, got {len(tokens)}")
        rows.append((line_number, tokens))
    if count != len(rows):
        raise ValueError(f"{path}, line 1: says {count} rows but the file has {len(rows)}")
    return rows


def _write_table(path: Path, header: str, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{len(lines)}\n{header}\n" + "".join(line + "\n" for line in lines))


def _parse_garment_type(path: Path, line_number: int, token: str) -> GarmentType:
    code = _parse_int(path, line_number, token, "clothes_type")
    try:
        return GarmentType.from_fld_code(code)
    except ValueError as error:
        raise ValueError(f"{path}, line {line_number}: {error}") from None


def _parse_int(path: Path, line_number: int, token: str, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        try:
            value = float(token)
        except ValueError:
            value = None
        if value is not None and value.is_integer():
            return int(value)
        raise ValueError(f"{path}, line {line_number}: {what} must be an integer, got {token!r}") from None


def _parse_float(path: Path, line_number: int, token: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise ValueError(f"{path}, line {line_number}: expected a number, got {token!r}") from None


def _parse_box(path: Path, line_number: int, tokens: Sequence[str]) -> Box:
    values = [_parse_float(path, line_number, token) for token in tokens]
    try:
        return Box(*values)
    except ValueError as error:
        raise ValueError(f"{path}, line {line_number}: {error}") from None


def _box_text(box: Box) -> str:
    return " ".join(_number(v) for v in box.as_tuple())


def _number(value: float) -> str:
    """Pixels with at most 2 decimals, integers without a point (FLD writes integers)."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _relative_name(root: Path, image_path: Path) -> str:
    image_path = Path(image_path)
    try:
        name = image_path.relative_to(root).as_posix()
    except ValueError:
        if image_path.is_absolute():
            raise ValueError(f"image {image_path} is not under the data set root {root}") from None
        name = image_path.as_posix()  # already relative to the root
    if any(c.isspace() for c in name):
        raise ValueError(f"image name {name!r} contains whitespace, which DeepFashion's files cannot hold")
    return name


def _check_split(split: str | None) -> str:
    if split not in SPLITS:
        raise ValueError(f"split {split!r} must be one of {', '.join(SPLITS)}")
    return split


__all__ = [
    "LandmarkRecord",
    "Consumer2ShopImage",
    "Consumer2ShopPair",
    "Consumer2ShopSet",
    "read_fld",
    "write_fld",
    "read_consumer2shop",
    "write_consumer2shop",
    "LANDMARK_SLOTS",
]
