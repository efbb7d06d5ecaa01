"""Reader of the shared real hand-labelled crops (shared/data/fld_dev).

Layout: ``upper/``, ``lower/``, ``full/`` with 224x224 crops, and
``labels_{upper,lower,full}.json``: file name -> {slot: [x, y, visibility]}
(visibility "visible" / "occluded" / "absent"), plus a "skip" entry (file ->
reason) that is ignored. Slots a label leaves out are ABSENT.

Split rule (deterministic, documented): within each garment type the labelled
file names are sorted; even positions (0, 2, 4, ...) are 'train', odd ones
'val'. So each type is split about half and half, and adding a file shifts
only the names sorted after it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from engine.data.deepfashion import LandmarkRecord
from engine.types import NUM_SLOTS, SLOT_INDEX, SLOTS_BY_TYPE, Box, GarmentType, Visibility

#: Variation code for records whose FLD variation type is unknown.
UNKNOWN_VARIATION = 0


def read_fld_dev(root: "str | Path", split: str | None = None) -> list[LandmarkRecord]:
    """All labelled crops as LandmarkRecords (box = the whole image, joints None), optionally one split."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected upper/, lower/, full/ and labels_*.json")
    records = []
    for garment_type in GarmentType:
        labels_path = root / f"labels_{garment_type.value}.json"
        if not labels_path.exists():
            continue
        try:
            labels = json.loads(labels_path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{labels_path}: not valid JSON ({error})") from None
        names = sorted(name for name in labels if name != "skip")
        for position, name in enumerate(names):
            record = _record(root, garment_type, name, labels[name], labels_path)
            record.split = "train" if position % 2 == 0 else "val"
            if split is None or record.split == split:
                records.append(record)
    if not records and split is None:
        raise ValueError(f"{root}: no labels_upper.json / labels_lower.json / labels_full.json with labelled crops")
    return records


def _record(root: Path, garment_type: GarmentType, name: str, slots: dict, labels_path: Path) -> LandmarkRecord:
    image_path = root / garment_type.value / name
    if not image_path.exists():
        raise FileNotFoundError(f"{labels_path}: labels {name!r} but {image_path} does not exist")
    with Image.open(image_path) as image:
        width, height = image.size
    points = np.zeros((NUM_SLOTS, 2), np.float32)
    visibility = np.full(NUM_SLOTS, int(Visibility.ABSENT), np.int64)
    allowed = SLOTS_BY_TYPE[garment_type]
    for slot, entry in slots.items():
        if slot not in allowed:
            raise ValueError(f"{labels_path}: {name}: slot {slot!r} is not a {garment_type.value} slot ({', '.join(allowed)})")
        try:
            x, y, word = entry
            code = Visibility[str(word).upper()]
        except (ValueError, TypeError, KeyError):
            raise ValueError(
                f"{labels_path}: {name}: {slot} must be [x, y, 'visible'|'occluded'|'absent'], got {entry!r}"
            ) from None
        points[SLOT_INDEX[slot]] = (float(x), float(y))
        visibility[SLOT_INDEX[slot]] = int(code)
    return LandmarkRecord(
        image_path=image_path,
        garment_type=garment_type,
        variation=UNKNOWN_VARIATION,
        points=points,
        visibility=visibility,
        box=Box(0.0, 0.0, float(width), float(height)),
        joints=None,
        split="train",
    )
