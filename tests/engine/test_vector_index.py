"""The vector index against a real Milvus Lite server (no mocks): search, filters, writes,
rebuild + alias swap, validation, retries when the server is gone, loopback-only binding."""
from __future__ import annotations

import ipaddress
import itertools
import threading

import numpy as np
import pytest

from engine.milvus_server import MilvusLiteServer, MilvusServerError, listening_addresses
from engine.vector_index import (
    CatalogIndex,
    IndexRow,
    IndexUnavailable,
    IndexVersionMismatch,
    InvalidIndexInput,
    RetryPolicy,
    VectorIndexError,
    filter_expression,
)

DIM = 16
FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, rpc_timeout_s=2.0)
_names = itertools.count()


@pytest.fixture(scope="session")
def milvus(tmp_path_factory):
    server = MilvusLiteServer(tmp_path_factory.mktemp("milvus") / "data")
    with server:
        yield server


@pytest.fixture
def index(milvus):
    """A ready live index with its own extractor name, so tests never share a collection."""
    idx = CatalogIndex(milvus.uri, f"test-net.{next(_names)}", "1.0", DIM, retry=FAST_RETRY)
    idx.ensure_ready()
    yield idx
    idx.close()


def unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def catalog(rng, products=12, images_per_product=1, **fields) -> list[IndexRow]:
    vectors = unit(rng, products * images_per_product)
    return [
        IndexRow(
            image_id=1000 + k, product_id=k // images_per_product,
            garment_type=fields.get("garment_type", "upper"), category=fields.get("category", "tee"),
            active=True, embedding=vectors[k],
        )
        for k in range(products * images_per_product)
    ]


def near(vector: np.ndarray, rng, noise: float = 0.05) -> np.ndarray:
    return vector + noise * rng.normal(size=vector.shape).astype(np.float32)


# ----------------------------------------------------------------------------- server launcher


def test_launcher_refuses_a_non_loopback_host(tmp_path):
    with pytest.raises(ValueError, match="refusing to bind"):
        MilvusLiteServer(tmp_path / "d", host="0.0.0.0")
    remote = MilvusLiteServer(tmp_path / "d", host="0.0.0.0", port=1, allow_remote=True)
    assert remote.command()[remote.command().index("--host") + 1] == "0.0.0.0"


def test_server_listens_on_loopback_only(milvus):
    addresses = listening_addresses(milvus.port)
    assert addresses, "nothing listens on the server's port"
    for address in addresses:
        ip = ipaddress.ip_address(address)
        ip = getattr(ip, "ipv4_mapped", None) or ip
        assert ip.is_loopback, f"Milvus Lite listens on {address}"
    assert milvus.command()[milvus.command().index("--host") + 1] == "127.0.0.1"


def test_a_server_that_dies_at_start_reports_its_log(milvus):
    # The shared server holds the data directory's lock, so a second server must exit.
    second = MilvusLiteServer(milvus.data_dir, start_timeout_s=30)
    with pytest.raises(MilvusServerError, match="(?s)exited with code .*lock"):
        second.start()
    assert not second.is_running()


# ----------------------------------------------------------------------------- search


def test_nearest_product_comes_first_with_cosine_scores(index):
    rng = np.random.default_rng(1)
    rows = catalog(rng, products=30)
    assert index.upsert(rows) == 30
    query = near(rows[17].embedding, rng)
    hits = index.search(query, limit=10)
    assert hits[0].product_id == 17 and hits[0].image_id == rows[17].image_id
    assert len(hits) == 10
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    cosine = float(query @ rows[17].embedding / np.linalg.norm(query))
    assert hits[0].score == pytest.approx(cosine, abs=1e-4)
    assert [h.product_id for h in hits] == [h.product_id for h in index.search_exact(query, limit=10)]


def test_reload_live_keeps_every_vector_searchable(milvus, index):
    """reload_live (the bench's step after a bulk load) releases and loads the live collection:
    the same answers after it, and nothing to do for an index that has no live collection yet."""
    rng = np.random.default_rng(5)
    rows = catalog(rng, products=40)
    index.upsert(rows)
    query = near(rows[3].embedding, rng)
    before = [h.product_id for h in index.search(query, limit=10)]
    index.reload_live()
    assert [h.product_id for h in index.search(query, limit=10)] == before
    assert index.count() == 40
    fresh = CatalogIndex(milvus.uri, f"test-net.{next(_names)}", "1.0", DIM, retry=FAST_RETRY)
    fresh.reload_live()
    assert fresh.live_collection() is None
    fresh.close()


def test_one_hit_per_product_with_its_best_image(index):
    rng = np.random.default_rng(2)
    rows = catalog(rng, products=10)
    anchor = unit(rng)[0]
    # Product 99 has five images all close to the query; it must count once.
    rows += [
        IndexRow(9000 + j, 99, "upper", "tee", True, near(anchor, rng, 0.02 * (j + 1)))
        for j in range(5)
    ]
    index.upsert(rows)
    hits = index.search(anchor, limit=6)
    products = [hit.product_id for hit in hits]
    assert len(products) == len(set(products)) == 6
    assert hits[0].product_id == 99
    assert hits[0].image_id == max(
        (r for r in rows if r.product_id == 99), key=lambda r: float(anchor @ r.embedding / np.linalg.norm(r.embedding))
    ).image_id


def test_filters_by_garment_type_category_and_active_flag(index):
    rng = np.random.default_rng(3)
    query = unit(rng)[0]
    rows = [
        IndexRow(1, 1, "upper", "tee", True, near(query, rng, 0.01)),
        IndexRow(2, 2, "lower", "jeans", True, near(query, rng, 0.02)),
        IndexRow(3, 3, "full", "dress", True, near(query, rng, 0.03)),
        IndexRow(4, 4, "upper", "blouse", False, near(query, rng, 0.005)),
    ]
    index.upsert(rows)
    products = lambda **kw: [h.product_id for h in index.search(query, limit=10, **kw)]
    assert products() == [1, 2, 3]
    assert products(only_active=False)[0] == 4
    assert products(garment_type="lower") == [2]
    assert products(garment_type="upper", only_active=False) == [4, 1]
    assert products(category="dress") == [3]
    assert products(category=["jeans", "tee"]) == [1, 2]
    assert products(category=[]) == []
    with pytest.raises(InvalidIndexInput, match="unknown garment type"):
        index.search(query, garment_type="hat")


def test_set_product_active_hides_and_restores_a_product(index):
    rng = np.random.default_rng(4)
    rows = catalog(rng, products=8, images_per_product=2)
    index.upsert(rows)
    query = near(rows[6].embedding, rng)  # product 3
    assert index.search(query, limit=3)[0].product_id == 3
    assert index.set_product_active([3], False) == 2
    assert 3 not in [h.product_id for h in index.search(query, limit=8)]
    assert index.set_product_active([3], False) == 0  # already hidden: nothing to rewrite
    assert index.count() == 16
    assert index.set_product_active([3], True) == 2
    assert index.search(query, limit=3)[0].product_id == 3
    stored = index.get_embeddings([rows[6].image_id])[rows[6].image_id]
    np.testing.assert_allclose(stored, rows[6].embedding, atol=1e-6)


def test_delete_images_and_products_remove_vectors(index):
    rng = np.random.default_rng(5)
    rows = catalog(rng, products=6, images_per_product=3)
    index.upsert(rows)
    assert index.count() == 18
    index.delete_images([rows[0].image_id, rows[1].image_id, 424242])
    assert index.count() == 16
    index.delete_products([4, 5])
    assert index.count() == 10
    assert index.image_ids() == sorted(r.image_id for r in rows[2:12])
    assert {h.product_id for h in index.search(rows[15].embedding, limit=10)}.isdisjoint({4, 5})


def test_upsert_replaces_by_image_id(index):
    rng = np.random.default_rng(6)
    rows = catalog(rng, products=3)
    index.upsert(rows)
    index.upsert([IndexRow(rows[0].image_id, 7, "lower", "skirt", True, rows[0].embedding)])
    assert index.count() == 3
    assert index.search(rows[0].embedding, limit=1, garment_type="lower")[0].product_id == 7


# ----------------------------------------------------------------------------- rebuild


def test_rebuild_and_alias_swap_while_searching(milvus):
    rng = np.random.default_rng(7)
    live = CatalogIndex(milvus.uri, f"rebuild-net.{next(_names)}", "1.0", DIM, retry=FAST_RETRY, alias_cache_s=0)
    live.ensure_ready()
    old_rows = catalog(rng, products=10)
    live.upsert(old_rows)
    query = old_rows[2].embedding

    new_version = CatalogIndex(milvus.uri, live.extractor_name, "2.0", DIM, retry=FAST_RETRY, alias_cache_s=0)
    writer = new_version.begin_rebuild(build_id="nightly")
    assert writer.writer_collection.endswith("_bnightly")
    new_rows = [IndexRow(r.image_id + 50_000, r.product_id + 500, r.garment_type, r.category, True, r.embedding)
                for r in old_rows]
    writer.upsert(new_rows)
    writer.flush(wait_for_index=True)
    assert writer.count() == 10 and live.count() == 10

    seen, errors, stop = [], [], threading.Event()

    def keep_searching():
        while not stop.is_set():
            try:
                seen.append(new_version.search(query, limit=1)[0].product_id)
            except IndexVersionMismatch:
                seen.append("old")  # the alias still points at 1.0
            except Exception as exc:  # any other failure means search stopped
                errors.append(exc)

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        previous = new_version.swap_alias(writer)
        while 502 not in seen and not errors:
            stop.wait(0.01)
    finally:
        stop.set()
        searcher.join(timeout=10)
    assert not errors, errors
    assert previous == live.base_collection
    assert new_version.live_collection() == writer.writer_collection
    assert new_version.search(query, limit=1)[0].product_id == 502
    with pytest.raises(IndexVersionMismatch, match="not built by"):
        live.search(query)
    assert new_version.drop_stale_collections(keep=1) == [live.base_collection]
    assert [c.name for c in new_version.collections()] == [writer.writer_collection]
    assert new_version.count() == 10


def test_swap_refuses_empty_and_foreign_collections(index):
    writer = index.begin_rebuild()
    with pytest.raises(VectorIndexError, match="empty"):
        index.swap_alias(writer)
    with pytest.raises(VectorIndexError, match="not a collection of extractor"):
        index.swap_alias("streetshop_index_registry")
    assert index.live_collection() == index.base_collection


def test_a_dimension_clash_with_an_existing_collection_is_reported(index):
    clash = CatalogIndex(index.uri, index.extractor_name, index.extractor_version, DIM * 2, retry=FAST_RETRY)
    with pytest.raises(VectorIndexError, match=f"stores {DIM}-d vectors"):
        clash.ensure_ready()


# ----------------------------------------------------------------------------- validation


def test_wrong_dimension_and_nan_vectors_are_rejected_clearly(index):
    rng = np.random.default_rng(8)
    good = catalog(rng, products=2)
    with pytest.raises(InvalidIndexInput, match=f"shape \\(8,\\).*{DIM}-d"):
        index.upsert(good + [IndexRow(1, 1, "upper", "tee", True, np.ones(8))])
    bad = np.ones(DIM)
    bad[3] = np.nan
    with pytest.raises(InvalidIndexInput, match="NaN"):
        index.upsert([IndexRow(2, 2, "upper", "tee", True, bad)])
    with pytest.raises(VectorIndexError, match="NaN"):
        index.search(bad)
    with pytest.raises(VectorIndexError, match=f"{DIM}-d"):
        index.search(np.ones(DIM + 1))
    with pytest.raises(InvalidIndexInput, match="missing category"):
        index.upsert([{"image_id": 3, "product_id": 3, "garment_type": "upper", "active": True, "embedding": good[0].embedding}])
    assert index.count() == 0  # a bad row means nothing of the call was written


def test_quotes_in_a_category_cannot_break_the_filter(index):
    rng = np.random.default_rng(9)
    query = unit(rng)[0]
    tricky = ['say "hi"', 'x" or category != "', "back\\slash", "it's"]
    rows = [IndexRow(i, i, "upper", category, True, near(query, rng, 0.01 * (i + 1)))
            for i, category in enumerate(tricky)]
    rows.append(IndexRow(10, 10, "upper", "tee", True, near(query, rng, 0.001)))
    index.upsert(rows)
    for i, category in enumerate(tricky):
        assert [h.product_id for h in index.search(query, category=category)] == [i]
    assert [h.product_id for h in index.search(query, category=tricky[:2])] == [0, 1]
    assert filter_expression(category='x" or category != "', only_active=False) == \
        'category == "x\\" or category != \\""'
    with pytest.raises(InvalidIndexInput, match="control characters"):
        index.search(query, category="tee\n")
    with pytest.raises(InvalidIndexInput, match="longer than 64"):
        index.search(query, category="x" * 65)


# ----------------------------------------------------------------------------- failures


def test_a_stopped_server_gives_index_unavailable_and_a_restart_recovers(tmp_path):
    rng = np.random.default_rng(10)
    server = MilvusLiteServer(tmp_path / "data").start()
    try:
        idx = CatalogIndex(server.uri, "outage-net", "1.0", DIM,
                           retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, rpc_timeout_s=0.5))
        idx.ensure_ready()
        rows = catalog(rng, products=4)
        idx.upsert(rows)
        server.stop()
        with pytest.raises(IndexUnavailable, match="the vector index is unavailable: search failed 3 times.*try again"):
            idx.search(rows[1].embedding)
        late = CatalogIndex(server.uri, "outage-net", "1.0", DIM, retry=idx.retry)  # never connected
        with pytest.raises(IndexUnavailable, match="try again"):
            late.ensure_ready()
        server.start()  # same port and data: the collection comes back released and is loaded again
        assert idx.search(rows[1].embedding, limit=1)[0].product_id == 1
        missing = CatalogIndex(server.uri, "outage-net", "1.0", DIM, retry=idx.retry,
                               collection_name="never_created_collection")
        with pytest.raises(VectorIndexError, match="does not exist") as raised:
            missing.count()
        assert not isinstance(raised.value, IndexUnavailable)
    finally:
        server.stop()
