"""Retrieval scores: a query hits at k when its own item is among the top k results.

``top_k_hit_rates`` (the training loop's and ``evaluate extractor``'s figures)
ranks gallery *items*, each by its best image. The DeepFashion curves
(``top_k_curve`` / ``retrieval_curve``, k = 1..50) rank gallery *images*, as
the benchmark does: a query hits at k when an image of its own item is among
the k most similar gallery images. The search is an exact numpy cosine search
or the product's Milvus index (``backend="milvus"``); both give the same API.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

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


# --------------------------------------------------------------------------- top-k curves (DeepFashion)

#: The curve's largest k, as DeepFashion plots it.
MAX_K = 50
BACKENDS = ("exact", "milvus")
_PAD = -1  # a rank past the end of a small gallery
_NOT_IN_GALLERY = -2  # the code of a query item no gallery image has


def top_k_curve(ranked_items: Sequence[Sequence], query_items: Sequence, max_k: int = MAX_K) -> np.ndarray:
    """Hit rate at k = 1..max_k (index k - 1), DeepFashion's top-k retrieval accuracy.

    ``ranked_items[q]`` lists the item ids of the gallery images retrieved for
    query q, best first (one entry per image, so an item may repeat). Query q
    hits at k when its own item is among the first k entries. A query whose
    item no gallery image has never hits; a list shorter than k counts as
    what it holds.
    """
    if len(ranked_items) != len(query_items):
        raise ValueError(f"{len(query_items)} queries but {len(ranked_items)} rankings")
    if len(query_items) == 0:
        raise ValueError("retrieval needs at least one query")
    first_hit = np.full(len(query_items), np.inf)
    for q, (ranking, item) in enumerate(zip(ranked_items, query_items)):
        for position, candidate in enumerate(list(ranking)[:max_k]):
            if candidate == item:
                first_hit[q] = position
                break
    ks = np.arange(1, max_k + 1)
    return (first_hit[None, :] < ks[:, None]).mean(axis=1)


def curve_at(curve: np.ndarray, ks: Sequence[int] = (1, 5, 10, 20, 50)) -> dict[str, float]:
    """{"top1": ..., "top5": ...} read off a ``top_k_curve`` (k beyond the curve: its last value)."""
    curve = np.asarray(curve)
    return {f"top{k}": round(float(curve[min(k, len(curve)) - 1]), 5) for k in ks}


def rank_gallery(
    query_vectors: np.ndarray,
    gallery_vectors: np.ndarray,
    k: int = MAX_K,
    backend: str = "exact",
    exclude_self: Sequence[int] | None = None,
    milvus_uri: str | None = None,
) -> np.ndarray:
    """(Q, k) gallery image indices, best first (-1 past the gallery's end), by cosine similarity.

    ``backend`` "exact" is a numpy brute force; "milvus" inserts the gallery
    into a fresh CatalogIndex collection (HNSW, cosine: the product's index)
    on ``milvus_uri``, or on a Milvus Lite server started for the call in a
    temporary folder, searches each query there, and drops the collection.
    ``exclude_self[q]``: a gallery index never returned for query q (the
    query itself, when queries are drawn from the gallery; -1 for none).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown search backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    query_vectors = _unit(query_vectors)
    gallery_vectors = _unit(gallery_vectors)
    if len(query_vectors) == 0 or len(gallery_vectors) == 0:
        raise ValueError("retrieval needs at least one query and one gallery image")
    if query_vectors.shape[1] != gallery_vectors.shape[1]:
        raise ValueError(f"queries are {query_vectors.shape[1]}-d but the gallery is {gallery_vectors.shape[1]}-d")
    exclude = np.full(len(query_vectors), -1) if exclude_self is None else np.asarray(exclude_self, np.int64)
    if len(exclude) != len(query_vectors):
        raise ValueError(f"{len(query_vectors)} queries but {len(exclude)} exclude_self entries")
    if backend == "exact":
        return _rank_exact(query_vectors, gallery_vectors, k, exclude)
    return _rank_milvus(query_vectors, gallery_vectors, k, exclude, milvus_uri)


def retrieval_curve(
    query_vectors: np.ndarray,
    query_items: Sequence,
    gallery_vectors: np.ndarray,
    gallery_items: Sequence,
    max_k: int = MAX_K,
    backend: str = "exact",
    exclude_self: Sequence[int] | None = None,
    milvus_uri: str | None = None,
) -> np.ndarray:
    """``top_k_curve`` of a search of the gallery images (``rank_gallery``) for each query."""
    ranking = rank_gallery(query_vectors, gallery_vectors, max_k, backend, exclude_self, milvus_uri)
    return top_k_curve(ranked_item_ids(ranking, gallery_items), query_items, max_k)


def ranked_item_ids(ranking: np.ndarray, gallery_items: Sequence) -> list[list]:
    """Gallery image indices (``rank_gallery``) -> their item ids, padding dropped."""
    gallery_items = list(gallery_items)
    return [[gallery_items[i] for i in row if i >= 0] for row in np.asarray(ranking)]


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected a (count, dim) array of vectors, got shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def _rank_exact(queries: np.ndarray, gallery: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    out = np.full((len(queries), k), _PAD, np.int64)
    for start in range(0, len(queries), 1024):
        scores = queries[start : start + 1024] @ gallery.T
        rows = np.arange(len(scores))
        skip = exclude[start : start + 1024]
        scores[rows[skip >= 0], skip[skip >= 0]] = -np.inf
        if scores.shape[1] > 4 * k:  # a large gallery: sort only the k best of each row
            candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            candidates = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        candidate_scores = np.take_along_axis(scores, candidates, axis=1)
        # Best first; ties go to the lower gallery index.
        order = np.take_along_axis(candidates, np.lexsort((candidates, -candidate_scores), axis=1), axis=1)[:, :k]
        valid = np.take_along_axis(scores, order, axis=1) > -np.inf
        out[start : start + len(scores), : order.shape[1]] = np.where(valid, order, _PAD)
    return out


@contextlib.contextmanager
def milvus_uri(uri: str | None = None) -> Iterator[str]:
    """``uri`` itself, or the address of a Milvus Lite server run in a temporary folder until the block ends."""
    if uri is not None:
        yield uri
        return
    import tempfile

    from engine.milvus_server import MilvusLiteServer

    with tempfile.TemporaryDirectory(prefix="streetshop-eval-milvus-") as folder:
        with MilvusLiteServer(f"{folder}/data") as server:
            yield server.uri


def _rank_milvus(queries: np.ndarray, gallery: np.ndarray, k: int, exclude: np.ndarray, uri: str | None) -> np.ndarray:
    with milvus_uri(uri) as address:
        return _search_milvus(address, queries, gallery, k, exclude)


def _search_milvus(uri: str, queries: np.ndarray, gallery: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    """Each gallery image is its own "product", so the index's one-hit-per-product search ranks images."""
    import uuid

    from engine.vector_index import MAX_SEARCH_LIMIT, REGISTRY, CatalogIndex, IndexRow

    name = f"streetshop_eval_{uuid.uuid4().hex[:12]}"
    index = CatalogIndex(uri, "evaluation", "0", gallery.shape[1], collection_name=name)
    try:
        index.ensure_ready()
        index.upsert(
            IndexRow(image_id=i, product_id=i, garment_type="upper", category="", active=True, embedding=vector)
            for i, vector in enumerate(gallery)
        )
        index.flush(wait_for_index=True)
        limit = min(k + 1, len(gallery), MAX_SEARCH_LIMIT)  # one more, in case the query itself comes back
        out = np.full((len(queries), k), _PAD, np.int64)
        for q, vector in enumerate(queries):
            found = [hit.image_id for hit in index.search(vector, limit=limit) if hit.image_id != exclude[q]][:k]
            out[q, : len(found)] = found
        return out
    finally:
        try:
            index._call(f"drop {name}", lambda c: c.drop_collection(name, **index._rpc()))
            index._call("update the index registry", lambda c: c.delete(REGISTRY, ids=[name], **index._rpc()))
        finally:
            index.close()
