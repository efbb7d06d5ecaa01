"""One person, one outfit: choose between "a dress" and "a top with a bottom".

A pose detector boxes a person as upper, lower and full garments at once,
since it cannot see clothes. Once the extractor has looked at each crop, its
garment-type scores say which reading fits: the full box looking like a
full-body garment, or the upper and lower boxes looking like a top and a
bottom. Only overlapping boxes of one person compete; extractors that give no
garment-type scores leave the garments as they are.
"""
from __future__ import annotations

from engine.types import Box, Garment, GarmentType

#: Two boxes belong to one person when this share of the smaller one lies inside the other.
SAME_PERSON_OVERLAP = 0.6


def resolve_outfits(garments: list[Garment]) -> list[Garment]:
    dropped: set[int] = set()
    for index, full in enumerate(garments):
        if full.detection.garment_type is not GarmentType.FULL or not _type_scores(full):
            continue
        parts = [
            i for i, g in enumerate(garments)
            if g.detection.garment_type is not GarmentType.FULL and _type_scores(g)
            and _overlap(g.detection.box, full.detection.box) >= SAME_PERSON_OVERLAP
        ]
        if not parts:
            continue
        dress = _type_scores(full).get(GarmentType.FULL.value, 0.0)
        separates = sum(
            _type_scores(garments[i]).get(garments[i].detection.garment_type.value, 0.0) for i in parts
        ) / len(parts)
        dropped.update(parts if dress >= separates else [index])
    return [g for i, g in enumerate(garments) if i not in dropped]


def _type_scores(garment: Garment) -> dict[str, float]:
    return garment.embedding.garment_type_scores if garment.embedding is not None else {}


def _overlap(a: Box, b: Box) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min(a.width * a.height, b.width * b.height)
    return width * height / smaller
