import numpy as np

from engine.outfits import resolve_outfits
from engine.types import Box, Detection, Embedding, Garment, GarmentType


def garment(kind: str, box, scores):
    embedding = Embedding(np.ones(2) / np.sqrt(2), "x", garment_type_scores=scores)
    return Garment(Detection(Box(*box), GarmentType(kind), 0.9), None, embedding)


PERSON = {"upper": (10, 10, 90, 60), "lower": (15, 50, 85, 140), "full": (10, 10, 90, 140)}


def test_a_dress_wins_over_top_and_bottom_when_the_full_crop_looks_like_one():
    found = [garment(k, PERSON[k], {"upper": 0.3, "lower": 0.3, "full": 0.4} if k != "full" else {"full": 0.9}) for k in PERSON]
    assert [g.detection.garment_type.value for g in resolve_outfits(found)] == ["full"]


def test_separates_win_when_the_parts_look_like_a_top_and_a_bottom():
    scores = {"upper": {"upper": 0.9}, "lower": {"lower": 0.8}, "full": {"full": 0.2, "upper": 0.8}}
    found = [garment(k, PERSON[k], scores[k]) for k in PERSON]
    assert [g.detection.garment_type.value for g in resolve_outfits(found)] == ["upper", "lower"]


def test_garments_of_different_people_or_without_scores_are_kept():
    other = garment("upper", (300, 10, 380, 60), {"upper": 0.9})
    full = garment("full", PERSON["full"], {"full": 0.9})
    no_scores = Garment(Detection(Box(*PERSON["upper"]), GarmentType.UPPER, 0.9))
    assert len(resolve_outfits([other, full, no_scores])) == 3
