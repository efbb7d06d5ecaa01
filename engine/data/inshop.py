"""Reader of DeepFashion's In-shop Clothes Retrieval benchmark.

Every file is text, whitespace separated: line 1 the row count, line 2 the column
names, then one row per line. Line 2 is checked against a known header
(category_attribute.detect_layout) before the rows are read.

In-shop root
    img/WOMEN/Dresses/id_00000002/02_1_front.jpg ...
    Anno/list_bbox_inshop.txt       image_name clothes_type pose_type x_1 y_1 x_2 y_2
                                    clothes_type 1 upper, 2 lower, 3 full; pose_type as POSE_TYPES
    Eval/list_eval_partition.txt    image_name item_id evaluation_status   (train / query / gallery)
    and, optional:
    Anno/list_landmarks_inshop.txt  image_name clothes_type variation_type (visibility x y) * n
                                    FLD's rows: n is the clothes type's slot count, or 8 zero-padded

The partition names the images, in its order; each needs a row of
list_bbox_inshop.txt (its garment type, pose and box). Retrieval queries the
'query' images against the 'gallery' ones; an item's images share its item_id.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.data.category_attribute import KNOWN_HEADERS, LANDMARK_TRIPLES, KnownHeader, detect_layout
from engine.data.deepfashion import (
    EVAL_PARTITION,
    _parse_box,
    _parse_garment_type,
    _parse_int,
    _read_landmark_file,
    _table_rows,
)
from engine.types import Box, GarmentType

INSHOP_BBOX = "Anno/list_bbox_inshop.txt"
INSHOP_LANDMARKS = "Anno/list_landmarks_inshop.txt"
INSHOP_SPLITS = ("train", "query", "gallery")
#: pose_type codes of list_bbox_inshop.txt.
POSE_TYPES = {1: "frontal", 2: "side", 3: "back", 4: "zoom-out", 5: "zoom-in", 6: "stand-alone"}

#: The In-shop files' headers, with the Category-and-Attribute ones so a swapped file is named.
INSHOP_HEADERS: dict[str, KnownHeader] = {
    **KNOWN_HEADERS,
    "inshop_bbox": KnownHeader(
        "list_bbox_inshop.txt", ("image_name", "clothes_type", "pose_type", "x_1", "y_1", "x_2", "y_2")
    ),
    "inshop_landmarks": KnownHeader(
        "list_landmarks_inshop.txt", ("image_name", "clothes_type", "variation_type", LANDMARK_TRIPLES)
    ),
    "inshop_partition": KnownHeader(
        "In-shop's list_eval_partition.txt", ("image_name", "item_id", "evaluation_status")
    ),
    "consumer2shop_partition": KnownHeader(
        "Consumer-to-shop's list_eval_partition.txt",
        ("image_pair_name_1", "image_pair_name_2", "item_id", "evaluation_status"),
    ),
}


@dataclass
class InShopImage:
    """One In-shop image. ``pose`` is a POSE_TYPES code; landmarks (points (8, 2) float32,
    visibility (8,) int64 over LANDMARK_SLOTS) are None without a landmark row."""

    image_path: Path
    item_id: str
    split: str  # 'train' | 'query' | 'gallery'
    garment_type: GarmentType
    box: Box
    pose: int
    landmark_type: GarmentType | None = None  # the landmark row's clothes type, which maps its columns
    variation: int | None = None
    points: np.ndarray | None = None
    visibility: np.ndarray | None = None

    @property
    def pose_name(self) -> str:
        return POSE_TYPES[self.pose]


@dataclass
class InShopSet:
    root: Path
    images: list[InShopImage]

    def split(self, name: str) -> list[InShopImage]:
        if name not in INSHOP_SPLITS:
            raise ValueError(f"unknown split {name!r}: expected one of {', '.join(INSHOP_SPLITS)}")
        return [image for image in self.images if image.split == name]

    @property
    def query(self) -> list[InShopImage]:
        return self.split("query")

    @property
    def gallery(self) -> list[InShopImage]:
        return self.split("gallery")

    def item_ids(self) -> list[str]:
        """The distinct item ids, in first-seen order."""
        return list(dict.fromkeys(image.item_id for image in self.images))


def read_inshop(root: "str | Path") -> InShopSet:
    """Read an In-shop layout: partition and boxes (required), landmarks (optional)."""
    root = Path(root)
    boxes = _read_inshop_bbox(root / INSHOP_BBOX)
    path = root / EVAL_PARTITION
    detect_layout(path, ("inshop_partition",), INSHOP_HEADERS)
    images: dict[str, InShopImage] = {}
    for line_number, tokens in _table_rows(path, min_columns=3):
        if len(tokens) != 3:
            raise ValueError(
                f"{path}, line {line_number}: expected 3 columns "
                f"(image_name item_id evaluation_status), got {len(tokens)}"
            )
        name, item_id, split = tokens
        if split not in INSHOP_SPLITS:
            raise ValueError(
                f"{path}, line {line_number}: evaluation_status {split!r} must be one of {', '.join(INSHOP_SPLITS)}"
            )
        if name not in boxes:
            raise ValueError(f"{path}, line {line_number}: image {name} has no row in {root / INSHOP_BBOX}")
        garment_type, pose, box = boxes[name]
        images[name] = InShopImage(root / name, item_id, split, garment_type, box, pose)
    if (root / INSHOP_LANDMARKS).exists():
        path = root / INSHOP_LANDMARKS
        detect_layout(path, ("inshop_landmarks",), INSHOP_HEADERS)
        for name, garment_type, variation, points, visibility in _read_landmark_file(path):
            if name in images:
                image = images[name]
                image.landmark_type, image.variation = garment_type, variation
                image.points, image.visibility = points, visibility
    return InShopSet(root=root, images=list(images.values()))


def _read_inshop_bbox(path: Path) -> dict[str, tuple[GarmentType, int, Box]]:
    detect_layout(path, ("inshop_bbox",), INSHOP_HEADERS)
    boxes = {}
    for line_number, tokens in _table_rows(path, min_columns=7):
        if len(tokens) != 7:
            raise ValueError(
                f"{path}, line {line_number}: expected 7 columns "
                f"(image_name clothes_type pose_type x_1 y_1 x_2 y_2), got {len(tokens)}"
            )
        garment_type = _parse_garment_type(path, line_number, tokens[1])
        pose = _parse_int(path, line_number, tokens[2], "pose_type")
        if pose not in POSE_TYPES:
            known = ", ".join(f"{k} ({v})" for k, v in POSE_TYPES.items())
            raise ValueError(f"{path}, line {line_number}: pose_type {pose} must be one of {known}")
        boxes[tokens[0]] = (garment_type, pose, _parse_box(path, line_number, tokens[3:7]))
    return boxes


__all__ = ["INSHOP_SPLITS", "POSE_TYPES", "InShopImage", "InShopSet", "read_inshop"]
