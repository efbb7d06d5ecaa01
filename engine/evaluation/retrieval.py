"""Consumer-to-shop retrieval scores: a query hits at k when its own item is among the top k shop items."""
from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_KS = (1, 5, 20)


def top_k_hit_rates(
    query_vectors: np.ndarray,
    query_items: Sequence,
    gallery_vectors: np.ndarray,
    gallery_items: Sequence,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Exact cosine search of L2-normalised vectors; ranks gallery *items* (best image per item)."""
    if len(query_vectors) == 0 or len(gallery_vectors) == 0:
        raise ValueError("retrieval needs at least one query and one gallery image")
    gallery_items = np.asarray(gallery_items)
    item_ids, item_of_image = np.unique(gallery_items, return_inverse=True)
    similarities = np.asarray(query_vectors, np.float32) @ np.asarray(gallery_vectors, np.float32).T
    # An item's score is its best image's score (a shop may hold several images of an item).
    item_scores = np.full((len(query_vectors), len(item_ids)), -np.inf, np.float32)
    np.maximum.at(item_scores.T, item_of_image, similarities.T)
    ranking = np.argsort(-item_scores, axis=1)
    query_positions = np.searchsorted(item_ids, np.asarray(query_items))
    query_positions = np.clip(query_positions, 0, len(item_ids) - 1)
    in_gallery = item_ids[query_positions] == np.asarray(query_items)
    rank_of_true = np.argmax(ranking == query_positions[:, None], axis=1)
    rates = {}
    for k in ks:
        hits = in_gallery & (rank_of_true < k)
        rates[f"top{k}"] = round(float(hits.mean()), 5)
    rates["queries"] = int(len(query_vectors))
    rates["gallery_items"] = int(len(item_ids))
    return rates
