"""The fld_dev reader, on a tiny fake folder in the same format (never the shared real one)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.data.fld_dev import read_fld_dev
from engine.types import SLOT_INDEX, Box, GarmentType, Visibility


def _fake(tmp_path):
    for garment_type, names in (("upper", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]), ("lower", ["e.jpg", "f.jpg"])):
        (tmp_path / garment_type).mkdir()
        labels = {}
        for name in names:
            Image.new("RGB", (224, 224)).save(tmp_path / garment_type / name)
            if garment_type == "upper":
                labels[name] = {"left_collar": [90, 20, "visible"], "right_collar": [130, 0, "absent"],
                                "left_sleeve": [60, 100, "occluded"]}
            else:
                labels[name] = {"left_waistline": [80, 10, "visible"], "right_hem": [150, 220, "visible"]}
        labels["skip"] = {"z.jpg": "not a garment"}
        (tmp_path / f"labels_{garment_type}.json").write_text(json.dumps(labels))
    return tmp_path


def test_read_fld_dev(tmp_path):
    records = read_fld_dev(_fake(tmp_path))
    assert len(records) == 6
    upper = [r for r in records if r.garment_type == GarmentType.UPPER]
    assert [r.image_path.name for r in upper] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert [r.split for r in upper] == ["train", "val", "train", "val"]
    first = upper[0]
    assert first.box == Box(0, 0, 224, 224) and first.joints is None
    assert first.points[SLOT_INDEX["left_collar"]].tolist() == [90, 20]
    assert first.visibility[SLOT_INDEX["left_collar"]] == Visibility.VISIBLE
    assert first.visibility[SLOT_INDEX["right_collar"]] == Visibility.ABSENT
    assert first.visibility[SLOT_INDEX["left_sleeve"]] == Visibility.OCCLUDED
    assert first.visibility[SLOT_INDEX["right_hem"]] == Visibility.ABSENT  # not labelled
    lower = [r for r in records if r.garment_type == GarmentType.LOWER]
    assert np.all(lower[0].visibility[[SLOT_INDEX["left_collar"], SLOT_INDEX["left_sleeve"]]] == Visibility.ABSENT)
    assert [r.image_path.name for r in read_fld_dev(tmp_path, split="val")] == ["b.jpg", "d.jpg", "f.jpg"]


def test_read_fld_dev_rejects_wrong_slot(tmp_path):
    _fake(tmp_path)
    (tmp_path / "labels_lower.json").write_text(json.dumps({"e.jpg": {"left_collar": [1, 2, "visible"]}}))
    with pytest.raises(ValueError, match="left_collar.*not a lower slot"):
        read_fld_dev(tmp_path)
