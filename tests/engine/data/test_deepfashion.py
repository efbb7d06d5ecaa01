"""DeepFashion file formats: FLD and consumer-to-shop round trips, padded rows, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data.deepfashion import (
    Consumer2ShopImage,
    Consumer2ShopPair,
    LandmarkRecord,
    read_consumer2shop,
    read_fld,
    write_consumer2shop,
    write_fld,
)
from engine.types import SLOT_INDEX, Box, GarmentType, Visibility, slot_mask


def _record(root, name, garment_type, seed, split="train"):
    rng = np.random.default_rng(seed)
    points = np.zeros((8, 2), np.float32)
    visibility = np.full(8, 2, np.int64)
    mask = slot_mask(garment_type)
    points[mask] = np.round(rng.uniform(0, 300, (mask.sum(), 2)), 2)
    visibility[mask] = rng.integers(0, 3, mask.sum())
    joints = np.concatenate([np.round(rng.uniform(0, 300, (14, 2)), 1), rng.integers(0, 2, (14, 1))], axis=1)
    return LandmarkRecord(root / "img" / name, garment_type, 2, points, visibility, Box(1, 2.5, 200, 301), joints, split)


@pytest.mark.parametrize("pad", [False, True])
def test_fld_round_trip(tmp_path, pad):
    records = [
        _record(tmp_path, "a.jpg", GarmentType.UPPER, 1),
        _record(tmp_path, "b.jpg", GarmentType.LOWER, 2, "val"),
        _record(tmp_path, "c.jpg", GarmentType.FULL, 3, "test"),
    ]
    write_fld(tmp_path, records, pad=pad)
    lines = (tmp_path / "Anno/list_landmarks.txt").read_text().splitlines()
    assert lines[0] == "3" and lines[1].startswith("image_name clothes_type variation_type")
    lengths = [len(line.split()) for line in lines[2:]]
    assert lengths == ([27, 27, 27] if pad else [21, 15, 27])
    back = read_fld(tmp_path)
    assert [r.split for r in back] == ["train", "val", "test"]
    for a, b in zip(records, back):
        assert b.image_path == a.image_path and b.garment_type == a.garment_type and b.variation == 2
        np.testing.assert_allclose(b.points, a.points, atol=0.006)
        np.testing.assert_array_equal(b.visibility, a.visibility)
        assert b.box == a.box
        np.testing.assert_allclose(b.joints, a.joints, atol=0.006)
    assert [r.image_path.name for r in read_fld(tmp_path, split="val")] == ["b.jpg"]


def test_fld_maps_columns_by_clothes_type(tmp_path):
    """A lower row's first triple is the left waistline, not the left collar; padding is ignored."""
    (tmp_path / "Anno").mkdir()
    (tmp_path / "Anno/list_landmarks.txt").write_text(
        "2\nheader\n"
        "img/x.jpg 2 1 0 10 20 1 30 20 0 12 90 2 0 95\n"
        "img/y.jpg 2 1 0 10 20 1 30 20 0 12 90 2 0 95 0 0 0 0 0 0 0 0 0 0 0 0\n"
    )
    for record in read_fld(tmp_path):
        assert record.garment_type == GarmentType.LOWER
        assert record.points[SLOT_INDEX["left_waistline"]].tolist() == [10, 20]
        assert record.visibility[SLOT_INDEX["right_waistline"]] == Visibility.OCCLUDED
        assert record.points[SLOT_INDEX["right_hem"]].tolist() == [0, 95]
        assert record.visibility[SLOT_INDEX["left_hem"]] == Visibility.VISIBLE
        for slot in ("left_collar", "right_collar", "left_sleeve", "right_sleeve"):
            assert record.visibility[SLOT_INDEX[slot]] == Visibility.ABSENT
        assert record.split == "train" and record.box is None and record.joints is None


@pytest.mark.parametrize(
    "row, message",
    [
        ("img/x.jpg 1 1 0 10 20", "line 3"),  # too few triples for an upper garment
        ("img/x.jpg 4 1 0 10 20 0 1 1 0 1 1 0 1 1", "clothes type"),
        ("img/x.jpg 2 1 0 ten 20 0 1 1 0 1 1 0 1 1", "expected a number"),
        ("img/x.jpg 2 1 7 10 20 0 1 1 0 1 1 0 1 1", "visibility 7"),
    ],
)
def test_fld_bad_row_names_file_and_line(tmp_path, row, message):
    (tmp_path / "Anno").mkdir()
    (tmp_path / "Anno/list_landmarks.txt").write_text(f"1\nheader\n{row}\n")
    with pytest.raises(ValueError, match=message) as error:
        read_fld(tmp_path)
    assert "list_landmarks.txt" in str(error.value) and "line 3" in str(error.value)


def test_fld_count_mismatch(tmp_path):
    (tmp_path / "Anno").mkdir()
    (tmp_path / "Anno/list_landmarks.txt").write_text("5\nheader\nimg/x.jpg 2 1 0 1 1 0 1 1 0 1 1 0 1 1\n")
    with pytest.raises(ValueError, match="says 5 rows"):
        read_fld(tmp_path)


def test_consumer2shop_round_trip_and_optional_files(tmp_path):
    shop = tmp_path / "img/Tee/id_00000001/shop_01.jpg"
    consumer = tmp_path / "img/Tee/id_00000001/consumer_01.jpg"
    points = np.arange(16, dtype=np.float32).reshape(8, 2)
    visibility = np.where(slot_mask(GarmentType.UPPER), 0, 2)
    images = [
        Consumer2ShopImage(path, GarmentType.UPPER, source, Box(0, 0, 10, 20), "id_00000001", "val", 1, points,
                           visibility, 0, np.array([1, 0, 1]))
        for path, source in ((shop, "shop"), (consumer, "consumer"))
    ]
    pairs = [Consumer2ShopPair(consumer, shop, "id_00000001", "val")]
    write_consumer2shop(tmp_path, images, pairs, ["Tee", "Skirt"], [GarmentType.UPPER, GarmentType.LOWER],
                        ["solid", "red", "long_sleeve"], [1, 6, 3])
    data = read_consumer2shop(tmp_path)
    assert data.category_names == ["Tee", "Skirt"] and data.attribute_names == ["solid", "red", "long_sleeve"]
    assert data.category_types == [GarmentType.UPPER, GarmentType.LOWER]
    assert [(p.consumer, p.shop, p.item_id, p.split) for p in data.pairs] == [(consumer, shop, "id_00000001", "val")]
    got = data.image(shop)
    assert got.source == "shop" and got.item_id == "id_00000001" and got.split == "val" and got.category == 0
    assert got.attributes.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(got.visibility, visibility)
    np.testing.assert_allclose(got.points[:2], points[:2])
    assert data.image(consumer).source == "consumer"
    # the real benchmark has no landmark / category / attribute files: those fields are None
    for name in ("list_landmarks_consumer2shop.txt", "list_category_cloth.txt", "list_category_img.txt",
                 "list_attr_cloth.txt", "list_attr_img.txt"):
        (tmp_path / "Anno" / name).unlink()
    bare = read_consumer2shop(tmp_path)
    assert bare.category_names is None and bare.attribute_names is None
    assert all(i.points is None and i.category is None and i.attributes is None for i in bare.images)


def test_consumer2shop_bad_source_type(tmp_path):
    (tmp_path / "Anno").mkdir()
    (tmp_path / "Eval").mkdir()
    (tmp_path / "Anno/list_bbox_consumer2shop.txt").write_text("1\nheader\nimg/a.jpg 1 3 0 0 5 5\n")
    (tmp_path / "Eval/list_eval_partition.txt").write_text("0\nheader\n")
    with pytest.raises(ValueError, match=r"list_bbox_consumer2shop.txt, line 3: source_type 3"):
        read_consumer2shop(tmp_path)
