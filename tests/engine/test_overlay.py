"""The overlay: boxes, labels and landmarks drawn where they belong, in the right colours."""
from __future__ import annotations

import numpy as np
import pytest

from engine.overlay import GARMENT_COLORS, SLOT_COLORS, draw_overlay, garment_label
from engine.types import SLOT_INDEX, Box, Detection, Embedding, Garment, GarmentType, Landmarks, Visibility

BACKGROUND = (40, 40, 40)
V, O, A = Visibility.VISIBLE, Visibility.OCCLUDED, Visibility.ABSENT


def _image(width=400, height=300):
    return np.full((height, width, 3), BACKGROUND, np.uint8)


def _upper_garment(visibility, category=None):
    points = np.array(
        [[150, 80], [250, 80], [110, 140], [290, 140], [200, 200], [200, 220], [150, 240], [250, 240]], np.float32
    )
    embedding = Embedding(np.ones(4), "test@1", category=category) if category else None
    detection = Detection(Box(90, 60, 310, 260), GarmentType.UPPER, 0.87)
    return Garment(detection, Landmarks(points, np.array(visibility)), embedding)


def _pixel(image, x, y):
    return tuple(int(v) for v in image[int(round(y)), int(round(x))])


def test_output_shape_dtype_and_input_untouched():
    image = _image()
    before = image.copy()
    out = draw_overlay(image, [_upper_garment([V, V, V, V, A, A, V, V])])
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(image, before)
    assert (out != image).any()


def test_visible_landmarks_are_dots_of_their_slot_colour():
    garment = _upper_garment([V, V, V, V, A, A, V, V])
    out = draw_overlay(_image(), [garment], legend=False)
    for name in ("left_collar", "right_collar", "left_sleeve", "right_sleeve", "left_hem", "right_hem"):
        index = SLOT_INDEX[name]
        x, y = garment.landmarks.points[index]
        assert _pixel(out, x, y) == SLOT_COLORS[index], name


def test_absent_landmarks_are_not_drawn():
    garment = _upper_garment([V, V, V, V, A, A, V, V])
    image = _image()
    out = draw_overlay(image, [garment], legend=False)
    for name in ("left_waistline", "right_waistline"):
        x, y = (int(v) for v in garment.landmarks.points[SLOT_INDEX[name]])
        np.testing.assert_array_equal(out[y - 5 : y + 6, x - 5 : x + 6], image[y - 5 : y + 6, x - 5 : x + 6])
    for color in (SLOT_COLORS[SLOT_INDEX["left_waistline"]], SLOT_COLORS[SLOT_INDEX["right_waistline"]]):
        assert not (out == color).all(axis=-1).any()


def test_occluded_landmarks_are_hollow_rings():
    garment = _upper_garment([V, V, O, V, A, A, V, V])
    out = draw_overlay(_image(), [garment], legend=False)
    index = SLOT_INDEX["left_sleeve"]
    x, y = (int(v) for v in garment.landmarks.points[index])
    assert _pixel(out, x, y) == BACKGROUND  # hollow centre
    around = out[y - 8 : y + 9, x - 8 : x + 9]
    assert (around == SLOT_COLORS[index]).all(axis=-1).any()  # but a ring of the slot's colour


def test_pairs_are_joined_by_a_line():
    garment = _upper_garment([V, V, V, V, A, A, V, V])
    out = draw_overlay(_image(), [garment], legend=False)
    assert _pixel(out, 200, 80) == GARMENT_COLORS[0]  # midway between the collars
    assert _pixel(out, 200, 140) == BACKGROUND  # sleeves are not joined


def test_box_label_and_legend():
    garment = _upper_garment([V, V, V, V, A, A, V, V], category="blouse")
    assert garment_label(garment) == "upper 0.87 · blouse"
    image = _image()
    out = draw_overlay(image, [garment])
    assert _pixel(out, 90, 150) == GARMENT_COLORS[0]  # left edge of the box
    assert (out[45:60, 90:200] == GARMENT_COLORS[0]).all(axis=-1).sum() > 50  # label background above the box
    legend = out[200:300, 0:80]
    assert (legend == SLOT_COLORS[SLOT_INDEX["right_hem"]]).all(axis=-1).any()
    assert not (legend == SLOT_COLORS[SLOT_INDEX["left_waistline"]]).all(axis=-1).any()  # only drawn slots listed


def test_one_colour_per_garment_and_garments_without_landmarks():
    first = _upper_garment([V, V, V, V, A, A, V, V])
    second = Garment(Detection(Box(10, 10, 60, 290), GarmentType.FULL, 0.5))
    out = draw_overlay(_image(), [first, second], legend=False)
    assert _pixel(out, 10, 150) == GARMENT_COLORS[1]
    assert _pixel(out, 310, 150) == GARMENT_COLORS[0]


@pytest.mark.parametrize("size", [(64, 48), (2000, 1500)])
def test_scales_with_the_image(size):
    width, height = size
    garment = Garment(
        Detection(Box(width * 0.2, height * 0.2, width * 0.8, height * 0.9), GarmentType.LOWER, 0.9),
        Landmarks(np.tile([[width * 0.5, height * 0.5]], (8, 1)), [A, A, A, A, V, V, V, V]),
    )
    out = draw_overlay(_image(width, height), [garment])
    assert out.shape == (height, width, 3)
    if width > 1000:  # thick lines (drawn inwards from the box edge) on big photos
        x0 = int(width * 0.2)
        assert (out[int(height * 0.5), x0 : x0 + 5] == GARMENT_COLORS[0]).all()


def test_no_garments_returns_a_copy():
    image = _image()
    out = draw_overlay(image, [])
    np.testing.assert_array_equal(out, image)
    assert out is not image
