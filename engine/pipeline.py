"""The one pipeline: photo -> garments -> landmarks -> embeddings.

Shoppers' queries and catalog indexing both go through ``Pipeline.run`` so
they are always embedded by the same plugins and versions. When the aligner
and the extractor declare the same backbone, its features are computed once
per crop and handed to both.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from engine import registry
from engine.contracts import Aligner, Detector, Extractor, GarmentCrops, Role
from engine.imageio import load_image
from engine.outfits import resolve_outfits
from engine.types import Detection, Embedding, Garment, GarmentType, Landmarks, PipelineResult

#: How sure the extractor must be of a garment type to override a detector's guess.
RETYPE_CONFIDENCE = 0.6


@dataclass
class Pipeline:
    detector: Detector | None  # None when only crops are described (evaluation)
    aligner: Aligner
    extractor: Extractor

    @classmethod
    def from_config(
        cls,
        detector: str | None = None,
        aligner: str | None = None,
        extractor: str | None = None,
        device: str = "cpu",
    ) -> "Pipeline":
        """Load the plugins named (or configured: STREETSHOP_DETECTOR / _ALIGNER / _EXTRACTOR)."""
        return cls(
            detector=registry.load_plugin(Role.DETECTOR, detector, device=device),
            aligner=registry.load_plugin(Role.ALIGNER, aligner, device=device),
            extractor=registry.load_plugin(Role.EXTRACTOR, extractor, device=device),
        )

    @property
    def shares_backbone(self) -> bool:
        backbone = self.aligner.info.backbone
        return backbone is not None and backbone == self.extractor.info.backbone

    @property
    def plugin_versions(self) -> dict[str, str]:
        return {p.info.role.value: p.info.key for p in (self.detector, self.aligner, self.extractor)}

    def run(self, image, hint: GarmentType | None = None) -> PipelineResult:
        """Run every stage on one photo (a path, bytes or an RGB array)."""
        return self.run_batch([image], [hint])[0]

    def run_batch(self, images: Sequence, hints: Sequence[GarmentType | None] | None = None) -> list[PipelineResult]:
        """Detect on all photos at once, then align and embed all their garments as one batch."""
        arrays = [load_image(image) for image in images]
        timings: dict[str, float] = {}
        with _timer(timings, "detect"):
            detections = self.detector.detect(arrays, hints)
        garments_per_image = [self._describe(image, found, timings) for image, found in zip(arrays, detections)]
        share = 1.0 / max(len(arrays), 1)
        return [
            PipelineResult(
                image_size=(image.shape[1], image.shape[0]),
                garments=garments,
                plugins=self.plugin_versions,
                timings_ms={k: v * share for k, v in timings.items()},
            )
            for image, garments in zip(arrays, garments_per_image)
        ]

    def run_detections(self, image: np.ndarray, detections: Sequence[Detection]) -> list[Garment]:
        """Align and embed given detections (catalog images with known boxes, evaluation)."""
        return self._describe(load_image(image), list(detections), {})

    def _describe(self, image: np.ndarray, detections: list[Detection], timings: dict[str, float]) -> list[Garment]:
        if not detections:
            return []
        garments = self._describe_once(image, detections, timings)
        retyped = {i: _seen_type(g) for i, g in enumerate(garments) if g.detection.type_guessed and _seen_type(g)}
        if retyped:
            # The landmark slots depend on the type: describe those crops again with the type the extractor saw.
            again = [replace(garments[i].detection, garment_type=t, type_guessed=False) for i, t in retyped.items()]
            for i, garment in zip(retyped, self._describe_once(image, again, timings)):
                garments[i] = garment
        return resolve_outfits(garments)

    def _describe_once(self, image: np.ndarray, detections: list[Detection], timings: dict[str, float]) -> list[Garment]:
        with _timer(timings, "crop"):
            crops = GarmentCrops.from_detections(image, detections, self.aligner.info.input_size or 224)
        landmarks, embeddings = self.describe_crops(crops, timings=timings)
        return [Garment(d, l, e) for d, l, e in zip(detections, landmarks, embeddings)]

    def describe_crops(
        self,
        crops: GarmentCrops,
        landmarks: Sequence[Landmarks] | None = None,
        timings: dict[str, float] | None = None,
    ) -> tuple[list[Landmarks], list[Embedding]]:
        """Landmarks (unless given, e.g. labels) and embeddings of ready crops; backbone run once."""
        timings = timings if timings is not None else {}
        features = None
        if self.shares_backbone:
            with _timer(timings, "backbone"):
                features = self.aligner.compute_features(crops)
        if landmarks is None:
            with _timer(timings, "align"):
                landmarks = self.aligner.align_crops(crops, features)
        extractor_crops = crops
        if self.extractor.info.input_size and self.extractor.info.input_size != crops.size:
            extractor_crops = crops.resized(self.extractor.info.input_size)
            features = None
        with _timer(timings, "extract"):
            embeddings = self.extractor.extract_crops(extractor_crops, landmarks, features)
        return list(landmarks), embeddings


def _seen_type(garment: Garment) -> GarmentType | None:
    """The garment type the extractor sees, when it is sure of it and it differs from the detector's guess."""
    scores = garment.embedding.garment_type_scores if garment.embedding is not None else {}
    if not scores:
        return None
    name, score = max(scores.items(), key=lambda item: item[1])
    if score < RETYPE_CONFIDENCE or name == garment.detection.garment_type.value:
        return None
    return GarmentType(name)


class _timer:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        elapsed = (time.perf_counter() - self.start) * 1000
        self.timings[self.name] = self.timings.get(self.name, 0.0) + elapsed
