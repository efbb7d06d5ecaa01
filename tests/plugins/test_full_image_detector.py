"""The ``full_image`` detector: one whole-photo detection, hint or aspect-ratio guess, plain borders trimmed."""
from __future__ import annotations

import numpy as np
import pytest

from engine.contracts import Detector, Role
from engine.types import GarmentType


def _load_detector():
    try:
        from engine.registry import load_plugin
    except ImportError:  # registry not there: construct directly
        from plugins.full_image import FullImageDetector

        return FullImageDetector()
    return load_plugin("detector", "full_image")


@pytest.fixture(scope="module")
def detector():
    return _load_detector()


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_info_declares_a_detector(detector):
    from plugins.full_image import FullImageDetector

    assert isinstance(detector, FullImageDetector)
    assert isinstance(detector, Detector)
    assert detector.info.role is Role.DETECTOR
    assert detector.info.name == "full_image"


def test_one_detection_covering_the_whole_photo(detector):
    results = detector.detect([_noise(120, 90)])
    assert len(results) == 1 and len(results[0]) == 1
    detection = results[0][0]
    assert detection.box.as_tuple() == (0.0, 0.0, 90.0, 120.0)
    assert all(type(v) is float for v in detection.box.as_tuple())
    assert detection.joints is None
    assert 0.0 < detection.score <= 1.0


@pytest.mark.parametrize("hint", list(GarmentType))
def test_hint_sets_the_type_with_full_score(detector, hint):
    (detection,) = detector.detect([_noise(100, 300)], [hint])[0]
    assert detection.garment_type is hint
    assert detection.score == 1.0


def test_hint_may_be_a_string(detector):
    (detection,) = detector.detect([_noise(100, 100)], ["lower"])[0]
    assert detection.garment_type is GarmentType.LOWER


def test_guess_from_aspect_ratio_scores_lower_than_a_hint(detector):
    tall, square, wide = _noise(300, 100), _noise(200, 200), _noise(100, 300)
    results = detector.detect([tall, square, wide], [None, None, None])
    assert [r[0].garment_type for r in results] == [GarmentType.FULL, GarmentType.UPPER, GarmentType.UPPER]
    assert all(r[0].score < 1.0 for r in results)


def test_plain_border_is_trimmed(detector):
    image = np.full((400, 300, 3), 250, np.uint8)
    image[100:280, 80:230] = (200, 30, 30)
    image += np.random.default_rng(1).integers(0, 4, image.shape, dtype=np.uint8)  # a little sensor/JPEG noise
    (detection,) = detector.detect([image])[0]
    x0, y0, x1, y1 = detection.box.as_tuple()
    assert x0 <= 80 and y0 <= 100 and x1 >= 230 and y1 >= 280  # keeps the garment
    assert x0 >= 60 and y0 >= 80 and x1 <= 250 and y1 <= 300  # drops most of the border
    assert detection.garment_type is GarmentType.UPPER  # 150 x 180 content: not tall enough for "full"

    image[100:380, 80:230] = (200, 30, 30)  # now 150 x 280: a dress
    (detection,) = detector.detect([image])[0]
    assert detection.garment_type is GarmentType.FULL


def test_blank_photo_keeps_the_whole_frame(detector):
    (detection,) = detector.detect([np.full((64, 48, 3), 255, np.uint8)])[0]
    assert detection.box.as_tuple() == (0.0, 0.0, 48.0, 64.0)


def test_grey_and_rgba_arrays_are_accepted(detector):
    grey = np.zeros((50, 40), np.uint8)
    rgba = np.zeros((50, 40, 4), np.uint8)
    results = detector.detect([grey, rgba])
    assert [len(r) for r in results] == [1, 1]


def test_hints_must_match_images(detector):
    with pytest.raises(ValueError, match="hint"):
        detector.detect([_noise(10, 10)], [None, None])


def test_untrimmed_mode_returns_the_full_frame():
    from plugins.full_image import FullImageDetector

    image = np.full((100, 100, 3), 255, np.uint8)
    image[40:60, 40:60] = 0
    (detection,) = FullImageDetector(trim=False).detect([image])[0]
    assert detection.box.as_tuple() == (0.0, 0.0, 100.0, 100.0)
