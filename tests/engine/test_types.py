import json

import numpy as np
import pytest

from engine.types import (
    LANDMARK_SLOTS,
    SCHEMA_VERSION,
    SLOTS_BY_TYPE,
    Box,
    Detection,
    Embedding,
    Garment,
    GarmentType,
    Landmarks,
    PipelineResult,
    Visibility,
    slot_mask,
)


def test_slot_schema_follows_fld():
    assert LANDMARK_SLOTS[0] == "left_collar" and LANDMARK_SLOTS[-1] == "right_hem"
    assert len(SLOTS_BY_TYPE[GarmentType.UPPER]) == 6
    assert slot_mask(GarmentType.LOWER).tolist() == [False] * 4 + [True] * 4
    assert GarmentType.from_fld_code(3) is GarmentType.FULL
    with pytest.raises(ValueError, match="expected 1"):
        GarmentType.from_fld_code(7)
    with pytest.raises(ValueError, match="upper, lower, full"):
        GarmentType.parse("hat")


def test_empty_box_is_refused():
    with pytest.raises(ValueError, match="empty box"):
        Box(10, 10, 10, 20)


def test_pipeline_result_is_json_with_a_schema_version():
    landmarks = Landmarks(np.arange(16, dtype=np.float32).reshape(8, 2), [0, 1, 2, 2, 2, 2, 0, 0])
    embedding = Embedding(np.ones(4) / 2, "fashionnet@1.0", category="Tee", category_scores={"Tee": 0.9})
    garment = Garment(Detection(Box(0, 0, 10, 20), GarmentType.UPPER, 0.8), landmarks, embedding)
    result = PipelineResult((640, 480), [garment], {"aligner": "cascade_cnn@1.0"})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION
    slots = data["garments"][0]["landmarks"]
    assert slots["right_collar"] == {"x": 2.0, "y": 3.0, "visibility": "occluded"}
    assert Landmarks.from_dict(slots).visibility.tolist() == landmarks.visibility.tolist()
    assert data["garments"][0]["embedding"]["dim"] == 4
    assert "vector" not in result.to_dict(include_vectors=False)["garments"][0]["embedding"]
    assert Visibility(2) is Visibility.ABSENT
