"""The synthetic generator: determinism, readable files, labels that sit on the drawn garments."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data.deepfashion import read_consumer2shop, read_fld
from engine.data.synthetic import (
    ATTRIBUTE_NAMES,
    CATEGORY_NAMES,
    generate_consumer2shop,
    generate_fld,
    render_c2s_scene,
    render_fld_scene,
)
from engine.imageio import load_image
from engine.types import SLOT_INDEX, GarmentType, Visibility, slot_mask

ANNOTATIONS = ("Anno/list_landmarks.txt", "Anno/list_bbox.txt", "Anno/list_joints.txt", "Eval/list_eval_partition.txt")


def _files(root):
    return {name: (root / name).read_bytes() for name in ANNOTATIONS}


def test_fld_same_seed_same_files_and_different_seed_differs(tmp_path):
    a = generate_fld(tmp_path / "a", count=9, seed=3, workers=1, progress=False)
    b = generate_fld(tmp_path / "b", count=9, seed=3, workers=2, progress=False)  # parallel = serial
    c = generate_fld(tmp_path / "c", count=9, seed=4, workers=1, progress=False)
    assert _files(a) == _files(b)
    assert (a / "img/img_00000005.jpg").read_bytes() == (b / "img/img_00000005.jpg").read_bytes()
    assert _files(a)["Anno/list_landmarks.txt"] != _files(c)["Anno/list_landmarks.txt"]
    records = read_fld(a)
    assert len(records) == 9 and all(r.split == "train" for r in records)
    assert [r.garment_type for r in records[:3]] == [GarmentType.UPPER, GarmentType.LOWER, GarmentType.FULL]
    for record in records:
        image = load_image(record.image_path)
        height, width = image.shape[:2]
        assert 300 <= max(width, height) <= 400
        assert record.box is not None and record.joints is not None
        assert 0 <= record.box.x0 < record.box.x1 <= width and 0 <= record.box.y0 < record.box.y1 <= height
        assert 1 <= record.variation <= 5


@pytest.mark.parametrize("index", range(24))
def test_fld_scene_labels_match_the_drawing(index):
    scene = render_fld_scene(seed=11, index=index)
    height, width = scene.image.shape[:2]
    assert scene.garment_mask.shape == (height, width) and scene.garment_mask.any()
    present = slot_mask(scene.garment_type)
    assert np.all(scene.visibility[~present] == Visibility.ABSENT)
    inside = scene.points[present]
    assert np.all((inside >= 0) & (inside <= [width - 1, height - 1]))
    box = scene.box
    for i in np.flatnonzero(scene.visibility == Visibility.VISIBLE):
        x, y = scene.points[i]
        assert box.x0 - 0.5 <= x <= box.x1 + 0.5 and box.y0 - 0.5 <= y <= box.y1 + 0.5, (i, x, y, box)
        xi, yi = int(round(x)), int(round(y))
        near = scene.garment_mask[max(0, yi - 3) : yi + 4, max(0, xi - 3) : xi + 4]
        assert near.any(), f"visible slot {i} at {(x, y)} is not on the garment"
    assert scene.joints.shape == (14, 3)


def test_consumer2shop(tmp_path):
    root = generate_consumer2shop(tmp_path, items=6, consumer_per_item=2, seed=5, workers=1, progress=False)
    data = read_consumer2shop(root)
    assert data.category_names == list(CATEGORY_NAMES) and data.attribute_names == list(ATTRIBUTE_NAMES)
    assert len(data.images) == 18 and len(data.pairs) == 12
    assert sum(i.source == "shop" for i in data.images) == 6
    for image in data.images:
        assert image.category is not None and image.attributes is not None and image.points is not None
        assert image.item_id is not None and image.split == "train"
        assert data.category_types[image.category] == image.garment_type
        assert np.all(image.visibility[~slot_mask(image.garment_type)] == Visibility.ABSENT)
        assert image.attributes.sum() >= 2  # a texture and a colour at least
        assert image.image_path.exists()
    for pair in data.pairs:
        consumer, shop = data.image(pair.consumer), data.image(pair.shop)
        assert consumer.source == "consumer" and shop.source == "shop"
        assert consumer.item_id == shop.item_id == pair.item_id
        assert consumer.category == shop.category
        np.testing.assert_array_equal(consumer.attributes, shop.attributes)
    assert len({p.item_id for p in data.pairs}) == 6


def test_shop_scene_shows_the_whole_garment():
    """Shop photos frame the whole garment; collar and hem corners are never hidden (arms may touch a waist)."""
    for item in range(12):
        scene = render_c2s_scene(seed=2, item=item, source="shop", number=1)
        present = slot_mask(scene.garment_type)
        assert not np.any(scene.visibility[present] == Visibility.ABSENT), (item, scene.visibility)
        for slot in ("left_collar", "right_collar", "left_hem", "right_hem"):
            if present[SLOT_INDEX[slot]]:
                assert scene.visibility[SLOT_INDEX[slot]] == Visibility.VISIBLE, (item, slot, scene.visibility)
