"""Recall@k and latency of the catalog index's HNSW search against exact search, per ef.

    .venv/bin/python bench/index_recall.py --embeddings var/embeddings.npy [--ef 16 32 64 128 256]
    .venv/bin/python bench/index_recall.py --synthetic 20000 --dim 256 [--k 20] [--queries 200]

Indexes the vectors (one image per product, so one-hit-per-product grouping
does not change the answer) into a fresh Milvus Lite server in a temporary
directory, the way a re-index does (a rebuild collection, flushed until its
HNSW index is built, then swapped in). Then, for each ef, runs the held-out
queries through ``CatalogIndex.search`` and compares with the exact top-k
(brute-force cosine in numpy, the same formula as ``CatalogIndex.search_exact``).
Prints recall@k and the median / p90 query latency per ef.

``--embeddings`` takes an (N, dim) float .npy file; ``--queries`` rows are held
out of the index and used as queries. ``--synthetic N`` uses random unit
vectors instead (structure-free data: a hard case for HNSW, so recall is lower
than on real embeddings).

The index searches with ef = max(ef, k), as Milvus requires ef >= k.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.milvus_server import MilvusLiteServer
from engine.vector_index import CatalogIndex, IndexRow


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    indexed, queries = load_vectors(args)
    truth = exact_top_k(indexed, queries, args.k)
    print(f"{len(indexed)} indexed vectors, {len(queries)} queries, dim {indexed.shape[1]}, k={args.k}, "
          f"HNSW M={args.M} efConstruction={args.ef_construction}")
    with tempfile.TemporaryDirectory(prefix="index-recall-") as tmp:
        with MilvusLiteServer(Path(tmp) / "milvus") as server:
            build_index(server.uri, indexed, args)
            rows = [measure(server.uri, queries, truth, ef, args) for ef in args.ef]
    print_table(rows, args.k)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--embeddings", type=Path, help="(N, dim) float .npy file")
    source.add_argument("--synthetic", type=int, metavar="N", help="N random unit vectors")
    parser.add_argument("--dim", type=int, default=256, help="dimension of --synthetic vectors")
    parser.add_argument("--queries", type=int, default=200, help="held-out query vectors")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--batch", type=int, default=2000, help="rows per upsert")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load_vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """(indexed, queries): queries are held out of the index."""
    rng = np.random.default_rng(args.seed)
    if args.synthetic:
        vectors = rng.normal(size=(args.synthetic + args.queries, args.dim)).astype(np.float32)
    else:
        vectors = np.load(args.embeddings).astype(np.float32)
        if vectors.ndim != 2 or len(vectors) <= args.queries:
            raise SystemExit(f"{args.embeddings}: need an (N, dim) array with N > --queries {args.queries}")
        vectors = vectors[rng.permutation(len(vectors))]
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors[args.queries:], vectors[: args.queries]


def exact_top_k(indexed: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    """Image ids (row numbers) of the exact cosine top-k of each query."""
    scores = queries @ indexed.T
    top = np.argpartition(-scores, kth=min(k, indexed.shape[0] - 1) - 1, axis=1)[:, :k]
    return [set(int(i) for i in row) for row in top]


def build_index(uri: str, indexed: np.ndarray, args: argparse.Namespace) -> None:
    """Fill a rebuild collection and swap it in, as a re-index does."""
    index = bench_index(uri, indexed.shape[1], ef=args.ef[0], args=args)
    index.ensure_ready()
    writer = index.begin_rebuild()
    start = time.perf_counter()
    for first in tqdm(range(0, len(indexed), args.batch), desc="indexing", unit="batch"):
        writer.upsert(
            IndexRow(i, i, "upper", "bench", True, indexed[i])
            for i in range(first, min(first + args.batch, len(indexed)))
        )
    # HNSW covers flushed segments only; unflushed rows would be searched by brute force.
    writer.flush(wait_for_index=True)
    index.swap_alias(writer)
    print(f"indexed {index.count()} vectors in {time.perf_counter() - start:.1f} s (HNSW built)")
    writer.close()
    index.close()


def measure(uri: str, queries: np.ndarray, truth: list[set[int]], ef: int, args: argparse.Namespace) -> dict:
    index = bench_index(uri, queries.shape[1], ef=ef, args=args)
    index.search(queries[0], limit=args.k)  # warm-up: connection and loaded segments
    found, latencies = 0, []
    for query, expected in zip(queries, truth):
        start = time.perf_counter()
        hits = index.search(query, limit=args.k)
        latencies.append((time.perf_counter() - start) * 1000)
        found += len(expected & {hit.image_id for hit in hits})
    index.close()
    return {
        "ef": ef,
        "recall": found / (len(queries) * args.k),
        "median_ms": statistics.median(latencies),
        "p90_ms": float(np.percentile(latencies, 90)),
    }


def bench_index(uri: str, dim: int, ef: int, args: argparse.Namespace) -> CatalogIndex:
    return CatalogIndex(uri, "bench", "1", dim, M=args.M, ef_construction=args.ef_construction,
                        ef=ef, batch_size=args.batch)


def print_table(rows: list[dict], k: int) -> None:
    print(f"\n{'ef':>6}  {f'recall@{k}':>10}  {'median ms':>10}  {'p90 ms':>8}")
    for row in rows:
        print(f"{row['ef']:>6}  {row['recall']:>10.4f}  {row['median_ms']:>10.2f}  {row['p90_ms']:>8.2f}")


if __name__ == "__main__":
    main()
