import numpy as np
import pytest

from engine.geometry import CANVAS_SIZE, Letterbox, letterbox, normalised_error
from engine.types import Box


@pytest.mark.parametrize("box", [Box(10, 20, 110, 70), Box(0, 0, 40, 160), Box(-30, 5, 90, 95)])
def test_letterbox_round_trip_maps_points_back_to_the_photo(box):
    transform = Letterbox.for_box(box)
    points = np.array([[box.x0, box.y0], [box.x1, box.y1], [(box.x0 + box.x1) / 2, box.y0 + 7]], np.float32)
    assert np.allclose(transform.to_image(transform.to_canvas(points)), points, atol=1e-4)
    assert np.allclose(transform.from_normalised(transform.to_normalised(points)), points, atol=1e-4)


def test_letterbox_centres_the_box_with_its_longest_side_filling_the_canvas():
    transform = Letterbox.for_box(Box(0, 0, 200, 100))
    assert transform.scale == pytest.approx(CANVAS_SIZE / 200)
    corners = transform.to_canvas(np.array([[0, 0], [200, 100]], np.float32))
    assert corners[0] == pytest.approx([0, 56])
    assert corners[1] == pytest.approx([224, 168])


def test_letterbox_crop_keeps_pixels_under_mapped_points_and_pads_with_zeros():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = (255, 0, 0)  # a red square at the photo's centre
    image[:, :20] = (0, 255, 0)  # green strip left of the box: must not leak into the crop
    box = Box(50, 0, 150, 100)
    canvas, transform = letterbox(image, box)
    assert canvas.shape == (CANVAS_SIZE, CANVAS_SIZE, 3) and canvas.dtype == np.uint8
    cx, cy = transform.to_canvas(np.array([100, 50], np.float32)).round().astype(int)
    assert tuple(canvas[cy, cx]) == (255, 0, 0)
    assert canvas[..., 1].max() == 0  # no green anywhere


def test_letterbox_outside_the_photo_is_zero():
    image = np.full((50, 50, 3), 200, np.uint8)
    canvas, transform = letterbox(image, Box(-50, 0, 50, 50))
    left_half = canvas[:, : int(50 * transform.scale) - 2]
    assert left_half.max() == 0
    assert canvas[70:150, -10:].min() > 150  # the photo half, inside the content rows


def test_normalised_error_divides_by_the_crop_size_and_ignores_invisible_slots():
    predicted = np.array([[10, 10], [50, 50]], np.float32)
    target = np.array([[20, 10], [0, 0]], np.float32)
    assert normalised_error(predicted, target, np.array([True, False]), width=100, height=50) == pytest.approx(0.1)
    assert np.isnan(normalised_error(predicted, target, np.array([False, False]), 100, 50))


def test_photo_edges_say_which_sides_of_the_photo_a_box_reaches():
    from engine.geometry import photo_edges

    assert photo_edges(Box(0, 10, 50, 60), 100, 80).tolist() == [1, 0, 0, 0]
    assert photo_edges(Box(5, 0.5, 100, 80), 100, 80).tolist() == [0, 1, 1, 1]
    assert photo_edges(Box(-20, -5, 130, 95), 100, 80).tolist() == [1, 1, 1, 1]  # augmented boxes may spill over
    assert photo_edges(Box(10, 10, 90, 70), 100, 80).tolist() == [0, 0, 0, 0]
