"""Find out what a data folder holds and read it with the right reader."""
from __future__ import annotations

from pathlib import Path

from engine.data.deepfashion import Consumer2ShopSet, LandmarkRecord, read_consumer2shop, read_fld
from engine.data.fld_dev import read_fld_dev
from engine.types import Box


def landmark_records(root: "str | Path", split: str | None = None) -> list[LandmarkRecord]:
    """Landmark-labelled garments of an FLD-format folder or a hand-labelled crops folder (fld_dev)."""
    root = Path(root)
    if (root / "Anno" / "list_landmarks.txt").exists():
        return read_fld(root, split)
    if any((root / f"labels_{t}.json").exists() for t in ("upper", "lower", "full")):
        return read_fld_dev(root, split)
    if (root / "Anno" / "list_landmarks_consumer2shop.txt").exists():
        data = read_consumer2shop(root)
        return [
            LandmarkRecord(i.image_path, i.garment_type, i.variation or 1, i.points, i.visibility, i.box, None, i.split or "train")
            for i in data.images
            if i.points is not None and (split is None or i.split == split)
        ]
    raise FileNotFoundError(
        f"{root}: no landmark labels found; expected an FLD folder (Anno/list_landmarks.txt), "
        "a consumer-to-shop folder with Anno/list_landmarks_consumer2shop.txt, or labels_{upper,lower,full}.json"
    )


def consumer_to_shop(root: "str | Path") -> Consumer2ShopSet:
    root = Path(root)
    if not (root / "Anno" / "list_bbox_consumer2shop.txt").exists():
        raise FileNotFoundError(f"{root}: not a consumer-to-shop folder (Anno/list_bbox_consumer2shop.txt missing)")
    return read_consumer2shop(root)


def crop_box(record, image) -> Box:
    """The record's garment box, or the whole image for crops that have none (hand-labelled crops)."""
    return record.box or Box(0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
