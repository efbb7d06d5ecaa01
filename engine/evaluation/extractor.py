"""Extractor evaluation through the plugins: consumer-to-shop top-k hit rates.

Queries are the consumer images of a split, the gallery is every shop image
of that split. Landmarks come from the aligner (what users get) or, to
measure the extractor alone, from the labels.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from engine.data.deepfashion import Consumer2ShopImage, Consumer2ShopSet
from engine.evaluation.aligner import label_crops
from engine.evaluation.retrieval import top_k_hit_rates
from engine.pipeline import Pipeline
from engine.types import Landmarks


def evaluate_extractor(
    pipeline: Pipeline,
    data: Consumer2ShopSet,
    split: str | None = "test",
    landmarks_from: str = "aligner",
    batch_size: int = 32,
    progress: bool = True,
) -> dict:
    if landmarks_from not in ("aligner", "labels"):
        raise ValueError("landmarks_from must be 'aligner' or 'labels'")
    images = [i for i in data.images if split is None or i.split == split]
    if not images:
        raise ValueError(f"{data.root}: no images in split {split!r}")
    vectors, categories = embed_images(pipeline, images, landmarks_from, batch_size, progress)
    items = np.array([i.item_id for i in images])
    is_shop = np.array([i.source == "shop" for i in images])
    result = top_k_hit_rates(vectors[~is_shop], items[~is_shop], vectors[is_shop], items[is_shop])
    names = data.category_names or []
    known = [(predicted, names[i.category]) for predicted, i in zip(categories, images) if i.category is not None and names]
    if known:
        result["category_accuracy"] = round(float(np.mean([predicted == truth for predicted, truth in known])), 5)
    result["landmarks_from"] = landmarks_from
    return result


def embed_images(pipeline: Pipeline, images: list[Consumer2ShopImage], landmarks_from: str, batch_size: int, progress: bool):
    vectors, categories = [], []
    for start in tqdm(range(0, len(images), batch_size), desc="embed", unit="batch", disable=not progress):
        chunk = images[start : start + batch_size]
        crops = label_crops(chunk)
        labels = [Landmarks(i.points, i.visibility) for i in chunk] if landmarks_from == "labels" else None
        _, embeddings = pipeline.describe_crops(crops, labels)
        vectors.extend(e.vector for e in embeddings)
        categories.extend(e.category for e in embeddings)
    return np.stack(vectors), categories
