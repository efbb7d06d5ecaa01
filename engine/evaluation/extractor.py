"""Extractor evaluation through the plugins: consumer-to-shop top-k hit rates.

``evaluate_extractor``: the quick figures (items ranked by their best image,
k = 1, 5, 20). ``score_extractor``: the DeepFashion figures for reports
(top-k curves for consumer-to-shop and in-shop, category and attribute top-k)
and ``score_inshop``: the In-shop benchmark's curve (query split against gallery split).

Queries are the consumer images of a split, the gallery is every shop image
of that split. Landmarks come from the aligner (what users get) or, to
measure the extractor alone, from the labels.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from engine.data.deepfashion import Consumer2ShopImage, Consumer2ShopSet
from engine.data.inshop import InShopSet
from engine.evaluation.aligner import label_crops
from engine.evaluation.attributes import attribute_top_k_recall, category_top_k_accuracy, score_matrix
from engine.evaluation.retrieval import MAX_K, curve_at, retrieval_curve, top_k_hit_rates
from engine.evaluation.retrieval import milvus_uri as milvus_uri_context
from engine.pipeline import Pipeline
from engine.types import Embedding, Landmarks


def evaluate_extractor(
    pipeline: Pipeline,
    data: Consumer2ShopSet,
    split: str | None = "test",
    landmarks_from: str = "aligner",
    batch_size: int = 32,
    progress: bool = True,
) -> dict:
    images = [i for i in data.images if split is None or i.split == split]
    if not images:
        raise ValueError(f"{data.root}: no images in split {split!r}")
    vectors, embeddings = describe_images(pipeline, images, landmarks_from, batch_size, progress)
    categories = [e.category for e in embeddings]
    items = np.array([i.item_id for i in images])
    is_shop = np.array([i.source == "shop" for i in images])
    result = top_k_hit_rates(vectors[~is_shop], items[~is_shop], vectors[is_shop], items[is_shop])
    names = data.category_names or []
    known = [(predicted, names[i.category]) for predicted, i in zip(categories, images) if i.category is not None and names]
    if known:
        result["category_accuracy"] = round(float(np.mean([predicted == truth for predicted, truth in known])), 5)
    result["landmarks_from"] = landmarks_from
    return result


def describe_images(
    pipeline: Pipeline, images: list[Consumer2ShopImage], landmarks_from: str, batch_size: int, progress: bool
) -> tuple[np.ndarray, list[Embedding]]:
    """(N, D) vectors and the extractor's full Embedding of each image's labelled crop.

    ``landmarks_from``: "aligner" (the installed aligner places them) or "labels" (the data's own).
    """
    if landmarks_from not in ("aligner", "labels"):
        raise ValueError("landmarks_from must be 'aligner' or 'labels'")
    if landmarks_from == "labels" and any(i.points is None or i.visibility is None for i in images):
        raise ValueError("landmarks from labels asked for, but some images have no landmark labels")
    embeddings: list[Embedding] = []
    for start in tqdm(range(0, len(images), batch_size), desc="embed", unit="batch", disable=not progress):
        chunk = images[start : start + batch_size]
        crops = label_crops(chunk)
        labels = [Landmarks(i.points, i.visibility) for i in chunk] if landmarks_from == "labels" else None
        _, found = pipeline.describe_crops(crops, labels)
        embeddings.extend(found)
    return np.stack([e.vector for e in embeddings]), embeddings


@dataclass
class ExtractorScores:
    """The DeepFashion figures of an extractor on a consumer-to-shop folder (``score_extractor``).

    Curves are hit rates at k = 1..MAX_K (index k - 1); None when the data has no such queries.
    """

    consumer_to_shop: np.ndarray | None
    in_shop: np.ndarray | None
    counts: dict[str, int]
    category: dict[str, float] | None = None
    attributes: dict[str, float] | None = None
    #: Images whose extractor output scored fewer attributes than the largest k (recall is then a lower bound).
    attributes_partly_scored: int = 0
    backend: str = "exact"
    landmarks_from: str = "aligner"
    #: How the in-shop queries were drawn: "benchmark" (In-shop's query split against its gallery split)
    #: or "leave-one-out" (shop images of a consumer-to-shop set against the other shop images).
    in_shop_protocol: str = "leave-one-out"
    embeddings: list[Embedding] = field(default_factory=list, repr=False)

    def figures(self) -> dict:
        out: dict = {"backend": self.backend, "landmarks_from": self.landmarks_from, **self.counts}
        for name, curve in (("c2s", self.consumer_to_shop), ("inshop", self.in_shop)):
            if curve is not None:
                out.update({f"{name}_{key}": value for key, value in curve_at(curve).items()})
        out.update({k: round(v, 5) for k, v in (self.category or {}).items()})
        out.update({k: round(v, 5) for k, v in (self.attributes or {}).items()})
        return out


def score_extractor(
    pipeline: Pipeline,
    data: Consumer2ShopSet,
    split: str | None = None,
    landmarks_from: str = "aligner",
    backend: str = "exact",
    milvus_uri: str | None = None,
    limit: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
    max_k: int = MAX_K,
) -> ExtractorScores:
    """Top-k curves (consumer-to-shop, in-shop), category top-3/5 accuracy and attribute top-3/5 recall.

    Consumer-to-shop: every consumer image of the split queries the split's
    shop images. In-shop: every shop image of an item with two or more shop
    images queries the other shop images (itself left out). Both follow
    DeepFashion: a query hits at k when one of the k most similar gallery
    images shows its item. ``backend`` "milvus" searches the product's index
    (one Milvus Lite server for both curves unless ``milvus_uri`` is given).
    ``limit`` keeps the first N images of the split (for a quick look).
    """
    images = [i for i in data.images if split is None or i.split == split]
    if limit is not None:
        images = images[:limit]
    if not images:
        raise ValueError(f"{data.root}: no images in split {split!r}")
    vectors, embeddings = describe_images(pipeline, images, landmarks_from, batch_size, progress)
    items = [i.item_id for i in images]
    consumer = [n for n, i in enumerate(images) if i.source == "consumer" and i.item_id is not None]
    shop = [n for n, i in enumerate(images) if i.source == "shop" and i.item_id is not None]
    shop_count = Counter(items[n] for n in shop)
    in_shop_queries = [n for n in shop if shop_count[items[n]] >= 2]
    counts = {
        "images": len(images),
        "c2s_queries": len(consumer) if shop else 0,
        "c2s_gallery": len(shop),
        "inshop_queries": len(in_shop_queries),
        "inshop_gallery": len(shop) if in_shop_queries else 0,
        "items": len({items[n] for n in consumer + shop}),
    }
    c2s_curve = in_shop_curve = None
    with contextlib.ExitStack() as stack:
        uri = milvus_uri
        if backend == "milvus" and ((consumer and shop) or in_shop_queries):
            uri = stack.enter_context(milvus_uri_context(milvus_uri))
        gallery_vectors, gallery_items = vectors[shop], [items[n] for n in shop]
        if consumer and shop:
            c2s_curve = retrieval_curve(
                vectors[consumer], [items[n] for n in consumer], gallery_vectors, gallery_items, max_k, backend,
                milvus_uri=uri,
            )
        if in_shop_queries:
            position = {n: p for p, n in enumerate(shop)}
            in_shop_curve = retrieval_curve(
                vectors[in_shop_queries], [items[n] for n in in_shop_queries], gallery_vectors, gallery_items, max_k,
                backend, exclude_self=[position[n] for n in in_shop_queries], milvus_uri=uri,
            )
    scores = ExtractorScores(c2s_curve, in_shop_curve, counts, backend=backend, landmarks_from=landmarks_from,
                             embeddings=embeddings)
    _score_labels(scores, data, images, embeddings)
    return scores


def score_inshop(
    pipeline: Pipeline,
    data: InShopSet,
    landmarks_from: str = "aligner",
    backend: str = "exact",
    milvus_uri: str | None = None,
    limit: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
    max_k: int = MAX_K,
) -> ExtractorScores:
    """DeepFashion In-shop's top-k curve: each 'query' image searches the 'gallery' images.

    ``limit`` keeps the first N query and the first N gallery images (partition order).
    """
    queries, gallery = data.query[:limit], data.gallery[:limit]
    if not queries or not gallery:
        raise ValueError(f"{data.root}: In-shop retrieval needs 'query' and 'gallery' images in its partition")
    vectors, embeddings = describe_images(pipeline, queries + gallery, landmarks_from, batch_size, progress)
    curve = retrieval_curve(
        vectors[: len(queries)], [i.item_id for i in queries], vectors[len(queries) :], [i.item_id for i in gallery],
        max_k, backend, milvus_uri=milvus_uri,
    )
    counts = {
        "images": len(queries) + len(gallery),
        "inshop_queries": len(queries),
        "inshop_gallery": len(gallery),
        "items": len({i.item_id for i in queries + gallery}),
    }
    return ExtractorScores(None, curve, counts, backend=backend, landmarks_from=landmarks_from,
                           in_shop_protocol="benchmark", embeddings=embeddings)


def _score_labels(scores: ExtractorScores, data: Consumer2ShopSet, images, embeddings: list[Embedding]) -> None:
    """Category top-3/5 accuracy and attribute top-3/5 recall over the images that have those labels."""
    if data.category_names:
        labelled = [n for n, i in enumerate(images) if i.category is not None]
        if labelled:
            matrix = score_matrix([embeddings[n].category_scores for n in labelled], data.category_names)
            scores.category = category_top_k_accuracy(matrix, [images[n].category for n in labelled])
            scores.counts["category_images"] = len(labelled)
    if data.attribute_names:
        labelled = [n for n, i in enumerate(images) if i.attributes is not None]
        labels = np.stack([images[n].attributes for n in labelled]) if labelled else np.zeros((0, 0))
        if labelled and labels.sum() > 0:
            matrix = score_matrix([embeddings[n].attribute_scores or embeddings[n].attributes for n in labelled], data.attribute_names)
            scores.attributes = attribute_top_k_recall(matrix, labels)
            scores.counts["attribute_images"] = len(labelled)
            scores.counts["attribute_positives"] = int((labels > 0).sum())
            scored = (~np.isnan(matrix)).sum(axis=1)
            scores.attributes_partly_scored = int((scored < min(5, matrix.shape[1])).sum())
