"""The catalog's vector index: one Milvus collection per extractor build, one alias per extractor.

Milvus holds derived data only (vectors keyed by image id); the database is the
source of truth and the index can always be rebuilt from it. This module is the
one place that talks to Milvus (standalone, distributed, or the embedded Milvus
Lite server of ``engine.milvus_server``) through ``pymilvus.MilvusClient``.

    index = CatalogIndex(server.uri, "fashionnet", "1.0", dim=256)
    index.ensure_ready()
    index.upsert([IndexRow(image_id=7, product_id=3, garment_type="upper",
                           category="tee", active=True, embedding=vector)])
    hits = index.search(query_vector, limit=20, garment_type="upper")

Naming. Vectors of two models must never mix, so each extractor name+version
gets its own collection (``catalog_fashionnet_1_0_ad2806a3``: sanitised name and
version plus a hash that keeps distinct versions apart after sanitising), and a
rebuild gets a fresh one (``..._b<build id>``). One alias per extractor name
(``catalog_fashionnet``) points at the live collection; ``swap_alias`` moves it
in one server-side step, so searches never stop during a re-index. A
``CatalogIndex`` refuses to search or write a live collection built by another
version of its extractor (``IndexVersionMismatch``): a query embedded by
fashionnet 1.1 against vectors of 1.0 would return confident nonsense.

Failures. Connection refused, server unavailable, a collection released by a
server restart and other transient errors are retried with exponential backoff;
after the last attempt ``IndexUnavailable`` says "try again". Anything else
(wrong dimension, NaN, a bad filter value, a schema clash) raises
``VectorIndexError`` at once with a message naming what to fix.

Milvus Lite 3.2.2 quirks handled here (checked against a real server):
``list_collections`` fails with pymilvus 2.5 (its ShowCollections reply sets a
field pymilvus 2.5 does not know), so every collection this module creates is
also recorded in a small registry collection; filter templates (``{name}``
placeholders) are not supported, so filter values are validated and escaped;
dropping a collection silently drops its aliases, so the live collection is
never dropped; after a server restart collections come back "released" and are
loaded again on first use; after a flush the HNSW index is built in the
background while describe_index already reports every row indexed, so
``flush(wait_for_index=True)`` forces the build (release + load) on a collection
that is not live yet.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from engine.batches import batches
from engine.types import GarmentType

logger = logging.getLogger(__name__)

T = TypeVar("T")

METRICS = ("COSINE", "IP", "L2")
CATEGORY_MAX_LENGTH = 64
GARMENT_TYPE_MAX_LENGTH = 16
MAX_SEARCH_LIMIT = 16384


# ----------------------------------------------------------------------------- errors


class VectorIndexError(Exception):
    """Any vector-index failure; the message says what went wrong and what to do."""


class IndexUnavailable(VectorIndexError):
    """Milvus could not be reached (or kept failing transiently) after all retries."""


class IndexNotReady(VectorIndexError):
    """The live collection or alias does not exist yet: run ``ensure_ready()`` or a rebuild."""


class IndexVersionMismatch(VectorIndexError):
    """The live collection was built by another version of the extractor."""


class InvalidIndexInput(VectorIndexError, ValueError):
    """A vector, id or filter value the caller passed is not acceptable."""


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class IndexRow:
    """One catalog image's vector and the fields searches filter on."""

    image_id: int
    product_id: int
    garment_type: str
    category: str
    active: bool
    embedding: Any  # 1-D float sequence / numpy array of length ``dim``


@dataclass(frozen=True)
class Hit:
    """A product found by a search: its best-matching image and that image's score."""

    image_id: int
    product_id: int
    score: float  # higher is better (cosine similarity for the default metric)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before telling the caller the index is unavailable.

    ``rpc_timeout_s`` bounds each call (and connecting); pymilvus's own retry
    loop is switched off so these settings are the only ones that apply.
    """

    attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    rpc_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay_s < 0 or self.max_delay_s < 0 or self.rpc_timeout_s <= 0:
            raise VectorIndexError(f"bad retry settings: {self}")


@dataclass(frozen=True)
class CollectionInfo:
    """A collection this module created, as recorded in the registry."""

    name: str
    extractor_name: str
    extractor_version: str
    dim: int
    metric: str
    created_at_ms: int


def collection_name_for(extractor_name: str, extractor_version: str) -> str:
    """The collection of one extractor version, e.g. ``catalog_fashionnet_1_0_ad2806a3``."""
    digest = hashlib.sha256(f"{extractor_name}\0{extractor_version}".encode()).hexdigest()[:8]
    return f"catalog_{_sanitize(extractor_name)}_{_sanitize(extractor_version)}_{digest}"


def alias_for(extractor_name: str) -> str:
    """The alias searches go through, e.g. ``catalog_fashionnet``."""
    return f"catalog_{_sanitize(extractor_name)}"


def filter_expression(
    garment_type: str | GarmentType | None = None,
    category: str | Iterable[str] | None = None,
    only_active: bool = True,
    product_ids: Iterable[int] | None = None,
) -> str:
    """A Milvus boolean expression for the given filters ("" when none).

    Values are validated and string literals escaped, so a category typed by a
    user can never change the expression's structure.
    """
    clauses = []
    if garment_type is not None:
        clauses.append(f"garment_type == {_quote(_garment_type(garment_type))}")
    if category is not None:
        clauses.append(_category_clause(category))
    if only_active:
        clauses.append("active == true")
    if product_ids is not None:
        clauses.append(f"product_id in [{', '.join(str(i) for i in _ids(product_ids, 'product_id'))}]")
    return " and ".join(clauses)


# ----------------------------------------------------------------------------- the index


class CatalogIndex:
    """Vectors of catalog images for one extractor version, searched one hit per product.

    Without ``collection_name`` the index is *live*: it reads and writes the
    collection the extractor's alias points at (checking that collection was
    built by this version). ``begin_rebuild()`` returns a *writer* bound to a
    new collection; ``swap_alias()`` makes it live.
    """

    def __init__(
        self,
        uri: str,
        extractor_name: str,
        extractor_version: str,
        dim: int,
        *,
        token: str = "",
        metric: str = "COSINE",
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 128,
        retry: RetryPolicy | None = None,
        batch_size: int = 500,
        collection_name: str | None = None,
        alias_cache_s: float = 2.0,
    ) -> None:
        _check_settings(dim, metric, M, ef_construction, ef, batch_size)
        self.uri = uri
        self.extractor_name = extractor_name
        self.extractor_version = extractor_version
        self.dim = int(dim)
        self.metric = metric.upper()
        self.M, self.ef_construction, self.ef = int(M), int(ef_construction), int(ef)
        self.retry = retry or RetryPolicy()
        self.batch_size = int(batch_size)
        self.alias = alias_for(extractor_name)
        self.base_collection = collection_name_for(extractor_name, extractor_version)
        self.writer_collection = _check_collection_name(collection_name) if collection_name else None
        self.alias_cache_s = alias_cache_s
        self._token = token
        self._client_obj: Any = None
        self._connection_alias = f"streetshop-index-{uuid.uuid4().hex}"
        self._live: tuple[str, float] | None = None  # (alias target, monotonic expiry)

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_writer(self) -> bool:
        return self.writer_collection is not None

    def ensure_ready(self) -> str:
        """Create this version's collection (schema, HNSW index) if missing, load it, and
        point the alias at it if there is no alias yet. Returns the collection in use:
        the writer's own, or the alias target for a live index."""
        self._ensure_registry()
        own = self.writer_collection or self.base_collection
        self._ensure_collection(own)
        if self.is_writer:
            return own
        target = self._describe_alias()
        if target is None:
            self._call(f"create alias {self.alias}", lambda c: c.create_alias(own, self.alias, **self._rpc()))
            target = own
        elif target != own:
            self._load(target)
        self._forget_live()
        return target

    def begin_rebuild(self, build_id: str | None = None) -> "CatalogIndex":
        """A writer for a new, empty collection of this extractor version.

        Fill it (``upsert``), then ``swap_alias(writer)``; searches keep using the
        old collection until the swap.
        """
        name = f"{self.base_collection}_b{_build_id(build_id)}"
        if self._has_collection(name):
            raise VectorIndexError(f"collection {name} already exists: use another build id")
        writer = self._sibling(collection_name=name)
        writer.ensure_ready()
        return writer

    def swap_alias(self, new_collection: "str | CatalogIndex", *, allow_empty: bool = False) -> str | None:
        """Point the extractor's alias at ``new_collection`` in one step; return the previous target.

        Refuses a collection of another extractor, one this module did not
        create, and (unless ``allow_empty``) an empty one.
        """
        name = new_collection.writer_collection if isinstance(new_collection, CatalogIndex) else new_collection
        self._check_swappable(name, allow_empty)
        previous = self._describe_alias()
        if previous is None:
            self._call(f"create alias {self.alias}", lambda c: c.create_alias(name, self.alias, **self._rpc()))
        else:
            self._call(f"move alias {self.alias}", lambda c: c.alter_alias(name, self.alias, **self._rpc()))
        self._forget_live()
        logger.info("alias %s now points at %s (was %s)", self.alias, name, previous)
        return previous

    def live_collection(self) -> str | None:
        """The collection the alias points at now, or None before the first ``ensure_ready()``."""
        return self._describe_alias()

    def collections(self) -> list[CollectionInfo]:
        """Every collection of this extractor (all versions and builds), oldest first."""
        self._ensure_registry()
        rows = self._call(
            "read the index registry",
            lambda c: c.query(
                REGISTRY, filter=f"extractor_name == {_quote(self.extractor_name)}",
                output_fields=REGISTRY_FIELDS, **self._rpc(),
            ),
        )
        return sorted((_collection_info(row) for row in rows), key=lambda info: info.created_at_ms)

    def drop_stale_collections(self, keep: int = 1) -> list[str]:
        """Drop this extractor's collections older than the live one, keeping the newest
        ``keep - 1`` of those for a rollback. Never drops the live collection nor a
        newer one (a rebuild in progress). Returns the dropped names."""
        if keep < 1:
            raise InvalidIndexInput(f"keep must be at least 1 (the live collection), got {keep}")
        live = self._describe_alias()
        infos = {info.name: info for info in self.collections()}
        if live is None or live not in infos:
            logger.warning("not dropping anything: the live collection %s is not in the registry", live)
            return []
        older = [i.name for i in infos.values() if i.created_at_ms < infos[live].created_at_ms and i.name != live]
        stale = older[: max(0, len(older) - (keep - 1))]
        for name in stale:
            self._drop_collection(name)
        return stale

    def flush(self, wait_for_index: bool = False, timeout_s: float = 600.0) -> None:
        """Seal the written rows into segments (call at the end of a bulk load).

        With ``wait_for_index``, return only once the HNSW index covers them, so
        a rebuilt collection answers at full speed as soon as it is swapped in
        (until then its new rows are searched by brute force).
        """
        name = self._call("flush", lambda c: _flushed(c, self._target(), self._rpc()))
        if wait_for_index:
            self._wait_for_index(name, timeout_s)

    def close(self) -> None:
        """Close this index's connection (it has its own; other clients are unaffected)."""
        if self._client_obj is not None:
            self._client_obj.close()
            self._client_obj = None

    def __enter__(self) -> "CatalogIndex":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------ writes

    def upsert(self, rows: Iterable[IndexRow | Mapping[str, Any]]) -> int:
        """Insert or replace rows by image id; returns how many were written.

        All rows are validated (ids, garment type, category, dimension, finite
        values) before anything is sent.
        """
        records = _dedupe_by_image([self._record(row) for row in rows])
        for batch in batches(records, self.batch_size):
            self._call("upsert", lambda c, b=batch: c.upsert(self._target(), b, **self._rpc()))
        return len(records)

    def delete_images(self, image_ids: Iterable[int]) -> None:
        """Remove the vectors of these images (unknown ids are ignored)."""
        for batch in batches(_ids(image_ids, "image_id"), self.batch_size):
            self._call("delete images", lambda c, b=batch: c.delete(self._target(), ids=b, **self._rpc()))

    def delete_products(self, product_ids: Iterable[int]) -> None:
        """Remove every image vector of these products."""
        for batch in batches(_ids(product_ids, "product_id"), self.batch_size):
            expr = filter_expression(only_active=False, product_ids=batch)
            self._call("delete products", lambda c, e=expr: c.delete(self._target(), filter=e, **self._rpc()))

    def set_product_active(self, product_ids: Iterable[int], active: bool) -> int:
        """Show or hide products in searches; returns how many image rows changed.

        Milvus 2.5 has no partial update, so the rows (vectors included) are read
        back and upserted with the new flag. Keep one writer per product (the
        catalog worker) so a concurrent upsert is not overwritten.
        """
        changed = 0
        for batch in batches(_ids(product_ids, "product_id"), 100):
            rows = self._rows_of_products(batch, only_flag=not active)
            for row in rows:
                row["active"] = bool(active)
            for chunk in batches(rows, self.batch_size):
                self._call("upsert", lambda c, b=chunk: c.upsert(self._target(), b, **self._rpc()))
            changed += len(rows)
        return changed

    # ------------------------------------------------------------------ reads

    def search(
        self,
        vector: Sequence[float] | np.ndarray,
        limit: int = 20,
        garment_type: str | GarmentType | None = None,
        category: str | Iterable[str] | None = None,
        only_active: bool = True,
    ) -> list[Hit]:
        """The ``limit`` products nearest to ``vector``, best first, one hit per product.

        HNSW search with Milvus grouping on ``product_id`` (each product counts
        once, with its best image).
        """
        query = self._query_vector(vector)
        limit = _check_limit(limit)
        if _matches_nothing(category):
            return []
        expr = filter_expression(garment_type, category, only_active)
        params = {"metric_type": self.metric, "params": {"ef": max(self.ef, limit)}}
        result = self._call("search", lambda c: c.search(
            self._target(), data=[query], limit=limit, filter=expr, output_fields=["product_id"],
            search_params=params, group_by_field="product_id", **self._rpc(),
        ))
        return sorted((self._hit(h) for h in result[0]), key=lambda hit: -hit.score)

    def search_exact(
        self,
        vector: Sequence[float] | np.ndarray,
        limit: int = 20,
        garment_type: str | GarmentType | None = None,
        category: str | Iterable[str] | None = None,
        only_active: bool = True,
    ) -> list[Hit]:
        """The exact answer ``search`` approximates (brute force over every matching
        vector, same scores): for measuring recall on small and medium collections."""
        query = self._query_vector(vector)
        limit = _check_limit(limit)
        if _matches_nothing(category):
            return []
        expr = filter_expression(garment_type, category, only_active)
        rows = list(self._scan(expr, ["image_id", "product_id", "embedding"]))
        if not rows:
            return []
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        scores = _scores(self.metric, query, vectors)
        return _best_per_product(rows, scores, limit)

    def count(self) -> int:
        """How many image vectors the collection holds."""
        return self._count_of(None)

    def image_ids(self) -> list[int]:
        """Every image id in the collection, sorted (to check it against the database)."""
        return sorted(int(row["image_id"]) for row in self._scan("", ["image_id"]))

    def rows(self, fields: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of the collection with the given fields (default: all but the vector;
        ``image_id`` always included), paged and strongly consistent: to compare the index
        with the database."""
        fields = SCALAR_FIELDS if fields is None else tuple(fields)
        unknown = [name for name in fields if name not in ROW_FIELDS]
        if unknown:
            raise InvalidIndexInput(f"unknown index field(s) {', '.join(unknown)}: use some of {', '.join(ROW_FIELDS)}")
        output_fields = list(dict.fromkeys(["image_id", *fields]))
        return self._scan("", output_fields, consistency_level="Strong")

    def get_embeddings(self, image_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Stored vectors by image id (ids not in the index are absent from the result)."""
        found: dict[int, np.ndarray] = {}
        for batch in batches(_ids(image_ids, "image_id"), self.batch_size):
            rows = self._call("get embeddings", lambda c, b=batch: c.get(
                self._target(), ids=b, output_fields=["image_id", "embedding"], **self._rpc(),
            ))
            found.update({int(r["image_id"]): np.asarray(r["embedding"], dtype=np.float32) for r in rows})
        return found

    def __repr__(self) -> str:
        role = f"writer of {self.writer_collection}" if self.is_writer else f"live via {self.alias}"
        return f"CatalogIndex({self.extractor_name} {self.extractor_version}, dim {self.dim}, {role})"

    # ------------------------------------------------------------------ helpers: calls and retries

    def _call(self, what: str, operation: Callable[[Any], T]) -> T:
        """Run ``operation(client)``, retrying transient failures with exponential backoff.

        The operation re-resolves its target on each attempt, so a retry after a
        swap, a drop or a server restart goes to the right, loaded collection.
        """
        delay = self.retry.base_delay_s
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return operation(self._client())
            except VectorIndexError:
                raise
            except Exception as exc:  # pymilvus raises MilvusException, grpc errors, OSError...
                kind = _failure_kind(exc, self.is_writer)
                if kind == _PERMANENT:
                    raise VectorIndexError(f"{what} failed: {_reason(exc)}") from exc
                if attempt == self.retry.attempts:
                    raise IndexUnavailable(
                        f"the vector index is unavailable: {what} failed {attempt} times "
                        f"(last error: {_reason(exc)}); try again in a moment"
                    ) from exc
                self._recover(kind)
                time.sleep(delay)
                delay = min(delay * 2, self.retry.max_delay_s)
        raise AssertionError("unreachable")

    def _recover(self, kind: str) -> None:
        """Prepare the next attempt: re-resolve the alias, or load a released collection."""
        if kind == _GONE:
            self._forget_live()
        elif kind == _NOT_LOADED:
            try:
                self._client().load_collection(self._target(), **self._rpc())
            except Exception as exc:  # the next attempt reports what is still wrong
                logger.debug("loading before retry failed: %s", exc)

    def _client(self) -> Any:
        """The pymilvus client, connected on first use (and again after a failed connect)."""
        if self._client_obj is None:
            from pymilvus import MilvusClient

            self._client_obj = MilvusClient(
                uri=self.uri, token=self._token, timeout=self.retry.rpc_timeout_s,
                alias=self._connection_alias,
            )
        return self._client_obj

    def _rpc(self) -> dict[str, Any]:
        # A float timeout plus retry_times=0 turns pymilvus's own retry loop off
        # (it would retry an unreachable server for minutes); _call retries instead.
        return {"timeout": float(self.retry.rpc_timeout_s), "retry_times": 0}

    # ------------------------------------------------------------------ helpers: which collection

    def _target(self) -> str:
        """The collection reads and writes go to (called inside ``_call``)."""
        if self.writer_collection:
            return self.writer_collection
        now = time.monotonic()
        if self._live is None or self._live[1] <= now:
            self._live = (self._resolve_live(), now + self.alias_cache_s)
        return self._live[0]

    def _resolve_live(self) -> str:
        target = self._alias_target(self._client())
        if target is None:
            raise IndexNotReady(
                f"there is no catalog index for extractor {self.extractor_name!r} yet "
                f"(alias {self.alias} does not exist): run ensure_ready() or a rebuild"
            )
        if not _belongs_to(target, self.base_collection):
            raise IndexVersionMismatch(
                f"the live catalog index {target} was not built by {self.extractor_name} "
                f"{self.extractor_version}: re-index with this version (begin_rebuild + swap_alias) "
                f"or configure the extractor version that built it"
            )
        return target

    def _forget_live(self) -> None:
        self._live = None

    def _describe_alias(self) -> str | None:
        return self._call(f"describe alias {self.alias}", self._alias_target)

    def _alias_target(self, client: Any) -> str | None:
        # Listing first: describing a missing alias works too, but pymilvus logs it as an ERROR.
        if self.alias not in client.list_aliases(**self._rpc()).get("aliases", []):
            return None
        try:
            return client.describe_alias(self.alias, **self._rpc())["collection_name"]
        except Exception as exc:
            if _is_missing(exc):  # dropped in between
                return None
            raise

    def _sibling(self, **overrides: Any) -> "CatalogIndex":
        settings = dict(
            token=self._token, metric=self.metric, M=self.M, ef_construction=self.ef_construction,
            ef=self.ef, retry=self.retry, batch_size=self.batch_size, alias_cache_s=self.alias_cache_s,
        )
        return CatalogIndex(self.uri, self.extractor_name, self.extractor_version, self.dim,
                            **{**settings, **overrides})

    # ------------------------------------------------------------------ helpers: collections

    def _ensure_collection(self, name: str) -> None:
        """Create (schema + HNSW index + registry row) unless it exists, check its
        dimension, and load it."""
        if not self._has_collection(name):
            self._create_collection(name)
        self._check_dim(name)
        self._load(name)

    def _create_collection(self, name: str) -> None:
        from pymilvus import MilvusClient

        schema = _catalog_schema(self.dim)
        index_params = MilvusClient.prepare_index_params()
        index_params.add_index(
            field_name="embedding", index_type="HNSW", metric_type=self.metric,
            params={"M": self.M, "efConstruction": self.ef_construction},
        )
        self._call(f"create collection {name}", lambda c: _create_if_missing(
            c, name, schema=schema, index_params=index_params, rpc=self._rpc(),
        ))
        self._register(name)
        logger.info("created vector collection %s (dim %d, %s)", name, self.dim, self.metric)

    def _check_dim(self, name: str) -> None:
        description = self._call(f"describe {name}", lambda c: c.describe_collection(name, **self._rpc()))
        dim = _vector_dim(description)
        if dim != self.dim:
            raise VectorIndexError(
                f"collection {name} stores {dim}-d vectors but {self.extractor_name} "
                f"{self.extractor_version} declares {self.dim}: give the changed model a new version"
            )

    def _check_swappable(self, name: str | None, allow_empty: bool) -> None:
        infos = {info.name: info for info in self.collections()}
        if name not in infos:
            raise VectorIndexError(
                f"{name!r} is not a collection of extractor {self.extractor_name!r} "
                f"made by begin_rebuild()/ensure_ready(): refusing to point {self.alias} at it"
            )
        if not self._has_collection(name):
            raise VectorIndexError(f"collection {name} no longer exists: rebuild it")
        self._load(name)
        if self._count_of(name) == 0 and not allow_empty:
            raise VectorIndexError(
                f"collection {name} is empty: refusing to make it live (pass allow_empty=True to force)"
            )

    def _count_of(self, name: str | None) -> int:
        """Rows in ``name`` (None: the collection this index reads)."""
        rows = self._call("count", lambda c: c.query(
            name or self._target(), filter="", output_fields=["count(*)"], consistency_level="Strong", **self._rpc(),
        ))
        return int(rows[0]["count(*)"])

    def _wait_for_index(self, name: str, timeout_s: float) -> None:
        """Milvus reports index progress in describe_index. Milvus Lite reports every row
        indexed at once and builds in the background, but its load() builds missing
        indexes synchronously: a collection that is not live is released and loaded."""
        deadline = time.monotonic() + timeout_s
        while not self._index_built(name):
            if time.monotonic() > deadline:
                raise IndexUnavailable(
                    f"the vector index is unavailable: the HNSW index of {name} is still "
                    f"building after {timeout_s:.0f} s; try again later"
                )
            time.sleep(0.5)
        if name != self._describe_alias():
            self._reload(name)

    def reload_live(self) -> None:
        """Release and load the live collection. After a bulk load, Milvus Lite goes on building the
        HNSW index in the background (searches are slow meanwhile); its load() builds it at once."""
        name = self._describe_alias()
        if name is not None:
            self._reload(name)

    def _reload(self, name: str) -> None:
        self._call(f"release {name}", lambda c: c.release_collection(name, **self._rpc()))
        self._load(name)

    def _index_built(self, name: str) -> bool:
        info = self._call(f"describe the index of {name}", lambda c: c.describe_index(name, "embedding", **self._rpc()))
        return info.get("pending_index_rows", 0) == 0 and info.get("indexed_rows", 0) >= info.get("total_rows", 0)

    def _has_collection(self, name: str) -> bool:
        return bool(self._call(f"look up {name}", lambda c: c.has_collection(name, **self._rpc())))

    def _load(self, name: str) -> None:
        self._call(f"load {name}", lambda c: c.load_collection(name, **self._rpc()))

    def _drop_collection(self, name: str) -> None:
        if name == self._describe_alias():
            raise VectorIndexError(f"refusing to drop {name}: it is the live collection")
        self._call(f"drop {name}", lambda c: c.drop_collection(name, **self._rpc()))
        self._call("update the index registry", lambda c: c.delete(REGISTRY, ids=[name], **self._rpc()))
        logger.info("dropped stale vector collection %s", name)

    # ------------------------------------------------------------------ helpers: registry

    def _ensure_registry(self) -> None:
        """The registry lists the collections this module made (see the module docstring)."""
        from pymilvus import MilvusClient

        index_params = MilvusClient.prepare_index_params()
        index_params.add_index(field_name="marker", index_type="FLAT", metric_type="L2")
        self._call("create the index registry", lambda c: _create_if_missing(
            c, REGISTRY, schema=_registry_schema(), index_params=index_params, rpc=self._rpc(),
        ))
        self._load(REGISTRY)

    def _register(self, name: str) -> None:
        row = {
            "collection": name, "extractor_name": self.extractor_name,
            "extractor_version": self.extractor_version, "dim": self.dim, "metric": self.metric,
            "created_at_ms": time.time_ns() // 1_000_000, "marker": [1.0, 0.0],
        }
        self._call("update the index registry", lambda c: c.upsert(REGISTRY, [row], **self._rpc()))

    # ------------------------------------------------------------------ helpers: rows and vectors

    def _record(self, row: IndexRow | Mapping[str, Any]) -> dict[str, Any]:
        """A validated Milvus row from an ``IndexRow`` or a mapping with the same keys."""
        get = row.get if isinstance(row, Mapping) else lambda key: getattr(row, key, None)
        missing = [key for key in ROW_FIELDS if get(key) is None]
        if missing:
            raise InvalidIndexInput(f"index row is missing {', '.join(missing)}: {row!r:.200}")
        return {
            "image_id": _id(get("image_id"), "image_id"),
            "product_id": _id(get("product_id"), "product_id"),
            "garment_type": _garment_type(get("garment_type")),
            "category": _category(get("category")),
            "active": _flag(get("active")),
            "embedding": self._vector(get("embedding"), f"embedding of image {get('image_id')}"),
        }

    def _query_vector(self, vector: Sequence[float] | np.ndarray) -> list[float]:
        return self._vector(vector, "query vector")

    def _vector(self, value: Any, what: str) -> list[float]:
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidIndexInput(f"{what} is not a numeric vector: {exc}") from exc
        if array.ndim != 1 or array.shape[0] != self.dim:
            raise InvalidIndexInput(
                f"{what} has shape {tuple(array.shape)}; the {self.extractor_name} "
                f"{self.extractor_version} index stores {self.dim}-d vectors"
            )
        if not np.all(np.isfinite(array)):
            raise InvalidIndexInput(f"{what} contains NaN or infinite values")
        if self.metric == "COSINE" and not np.any(array):
            raise InvalidIndexInput(f"{what} is all zeros: cosine similarity is undefined for it")
        return array.tolist()

    def _rows_of_products(self, product_ids: list[int], only_flag: bool) -> list[dict[str, Any]]:
        expr = filter_expression(only_active=False, product_ids=product_ids)
        expr += f" and active == {'true' if only_flag else 'false'}"
        return self._call("read rows", lambda c: [dict(r) for r in c.query(
            self._target(), filter=expr, output_fields=list(ROW_FIELDS),
            consistency_level="Strong", **self._rpc(),
        )])

    def _scan(self, expr: str, output_fields: list[str], **options: Any) -> Iterator[dict[str, Any]]:
        """All rows matching ``expr`` (paged by the query iterator, so no result-size cap)."""
        iterator = self._call("scan", lambda c: c.query_iterator(
            self._target(), batch_size=1000, filter=expr, output_fields=output_fields, **options, **self._rpc(),
        ))
        try:
            while batch := self._call("scan", lambda c: iterator.next()):
                yield from batch
        finally:
            iterator.close()

    def _hit(self, hit: Mapping[str, Any]) -> Hit:
        distance = float(hit["distance"])
        score = -distance if self.metric == "L2" else distance
        return Hit(image_id=int(hit["image_id"]), product_id=int(hit["entity"]["product_id"]), score=score)


# ----------------------------------------------------------------------------- module helpers

ROW_FIELDS = ("image_id", "product_id", "garment_type", "category", "active", "embedding")
SCALAR_FIELDS = ("image_id", "product_id", "garment_type", "category", "active")
REGISTRY = "streetshop_index_registry"
REGISTRY_FIELDS = ["collection", "extractor_name", "extractor_version", "dim", "metric", "created_at_ms"]

_TRANSIENT, _NOT_LOADED, _GONE, _PERMANENT = "transient", "not loaded", "missing", "permanent"
_TRANSIENT_MARKERS = (
    "unavailable", "connection refused", "failed to connect", "fail connecting",
    "deadline exceeded", "timed out", "timeout", "retry run out", "connection reset",
    "socket closed", "broken pipe", "not fully written", "try again later",
)
_NOT_LOADED_MARKERS = ("not loaded", "call load()", "in state 'released'", "collection not loaded")
# Only a missing collection or alias: "field x does not exist" is a permanent error, not a moved alias.
_MISSING_COLLECTION = re.compile(r"(collection|alias)\b[^\n]{0,300}?(does not exist|not exist|not found)|can't find collection")
_PYMILVUS_RETRY_PREFIX = re.compile(r"^\[\w+\] Retry run out of \d+ retry times, message=")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def _failure_kind(exc: BaseException, writer: bool) -> str:
    """Sort an exception into transient / not loaded / missing / permanent by its message.

    pymilvus wraps gRPC and server errors in MilvusException, sometimes with a
    broken ``code``, so the message is the reliable signal. A missing
    collection is worth a retry only for a live index (the alias may have just
    moved); for a writer it is permanent.
    """
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return _TRANSIENT
    message = str(exc).lower()
    if any(marker in message for marker in _NOT_LOADED_MARKERS):
        return _NOT_LOADED
    if _is_missing(exc):
        return _PERMANENT if writer else _GONE
    if any(marker in message for marker in _TRANSIENT_MARKERS):
        return _TRANSIENT
    return _PERMANENT


def _is_missing(exc: BaseException) -> bool:
    """A collection or alias that does not exist."""
    return _MISSING_COLLECTION.search(str(exc).lower()) is not None


def _reason(exc: BaseException) -> str:
    """A one-line, bounded summary of an exception for error messages."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    first = _PYMILVUS_RETRY_PREFIX.sub("", " ".join(str(message).split()))
    return first[:300] + ("..." if len(first) > 300 else "")


def _flushed(client: Any, name: str, rpc: dict) -> str:
    client.flush(name, **rpc)
    return name


def _create_if_missing(client: Any, name: str, *, schema: Any, index_params: Any, rpc: dict) -> None:
    """Create a collection; another process creating it first is fine."""
    if client.has_collection(name, **rpc):
        return
    try:
        client.create_collection(name, schema=schema, index_params=index_params, **rpc)
    except Exception as exc:
        if "already exist" not in str(exc).lower():
            raise


def _catalog_schema(dim: int) -> Any:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("image_id", DataType.INT64, is_primary=True)
    schema.add_field("product_id", DataType.INT64)
    schema.add_field("garment_type", DataType.VARCHAR, max_length=GARMENT_TYPE_MAX_LENGTH)
    schema.add_field("category", DataType.VARCHAR, max_length=CATEGORY_MAX_LENGTH)
    schema.add_field("active", DataType.BOOL)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def _registry_schema() -> Any:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("collection", DataType.VARCHAR, is_primary=True, max_length=255)
    schema.add_field("extractor_name", DataType.VARCHAR, max_length=255)
    schema.add_field("extractor_version", DataType.VARCHAR, max_length=255)
    schema.add_field("dim", DataType.INT64)
    schema.add_field("metric", DataType.VARCHAR, max_length=16)
    schema.add_field("created_at_ms", DataType.INT64)
    # Milvus requires a vector field in every collection; this one is a constant.
    schema.add_field("marker", DataType.FLOAT_VECTOR, dim=2)
    return schema


def _collection_info(row: Mapping[str, Any]) -> CollectionInfo:
    return CollectionInfo(
        name=row["collection"], extractor_name=row["extractor_name"],
        extractor_version=row["extractor_version"], dim=int(row["dim"]),
        metric=row["metric"], created_at_ms=int(row["created_at_ms"]),
    )


def _vector_dim(description: Mapping[str, Any]) -> int | None:
    for field in description.get("fields", []):
        if field.get("name") == "embedding":
            return int(field.get("params", {}).get("dim", 0))
    return None


def _belongs_to(collection: str, base: str) -> bool:
    """True for the base collection of a version and for its rebuilds (``base_b...``)."""
    return collection == base or collection.startswith(f"{base}_b")


def _sanitize(text: str) -> str:
    cleaned = _NAME_CHARS.sub("_", str(text)).strip("_")
    return (cleaned or "x")[:64]


def _build_id(build_id: str | None) -> str:
    if build_id is None:
        now = time.time()
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}"
    cleaned = _NAME_CHARS.sub("_", str(build_id)).strip("_")
    if not cleaned:
        raise InvalidIndexInput(f"build id {build_id!r} has no letters or digits")
    return cleaned[:40]


def _check_collection_name(name: str) -> str:
    if not _COLLECTION_NAME.match(name):
        raise InvalidIndexInput(
            f"{name!r} is not a valid Milvus collection name (letters, digits and _; "
            f"starting with a letter or _; at most 255 characters)"
        )
    return name


def _check_settings(dim: int, metric: str, M: int, ef_construction: int, ef: int, batch_size: int) -> None:
    if int(dim) < 1 or int(dim) > 32768:
        raise VectorIndexError(f"dim must be between 1 and 32768, got {dim}")
    if str(metric).upper() not in METRICS:
        raise VectorIndexError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if not 2 <= int(M) <= 2048 or int(ef_construction) < 1 or int(ef) < 1:
        raise VectorIndexError(f"bad HNSW settings: M={M}, ef_construction={ef_construction}, ef={ef}")
    if int(batch_size) < 1:
        raise VectorIndexError(f"batch_size must be positive, got {batch_size}")


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidIndexInput(f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}, got {limit!r}")
    return limit


def _id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidIndexInput(f"{what} must be an integer, got {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise InvalidIndexInput(f"{what} {value} does not fit in 64 bits")
    return int(value)


def _ids(values: Iterable[int], what: str) -> list[int]:
    if isinstance(values, (str, bytes)):
        raise InvalidIndexInput(f"{what}s must be a list of integers, got {values!r}")
    return list(dict.fromkeys(_id(value, what) for value in values))


def _flag(value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidIndexInput(f"active must be True or False, got {value!r}")
    return bool(value)


def _garment_type(value: str | GarmentType) -> str:
    try:
        return GarmentType(value).value
    except ValueError:
        choices = ", ".join(g.value for g in GarmentType)
        raise InvalidIndexInput(f"unknown garment type {value!r}: use one of {choices}") from None


def _category(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidIndexInput(f"category must be a string, got {value!r}")
    if len(value) > CATEGORY_MAX_LENGTH:
        raise InvalidIndexInput(f"category {value[:20]!r}... is longer than {CATEGORY_MAX_LENGTH} characters")
    if _CONTROL_CHARS.search(value):
        raise InvalidIndexInput(f"category {value!r} contains control characters")
    return value


def _category_clause(category: str | Iterable[str]) -> str:
    if isinstance(category, str):
        return f"category == {_quote(_category(category))}"
    values = list(dict.fromkeys(_category(value) for value in category))
    return f"category in [{', '.join(_quote(value) for value in values)}]"


def _matches_nothing(category: str | Iterable[str] | None) -> bool:
    """An empty category list selects no product at all."""
    return category is not None and not isinstance(category, str) and len(list(category)) == 0


def _quote(value: str) -> str:
    """A double-quoted Milvus string literal; backslash and quote escaped (control
    characters were rejected), so the value cannot end the literal early."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dedupe_by_image(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row of each image id wins, as if the rows were upserted one by one."""
    return list({record["image_id"]: record for record in records}.values())


def _scores(metric: str, query: list[float], vectors: np.ndarray) -> np.ndarray:
    """Scores as Milvus reports them, turned to higher-is-better."""
    q = np.asarray(query, dtype=np.float32)
    if metric == "COSINE":
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(q)
        return (vectors @ q) / np.maximum(norms, np.finfo(np.float32).tiny)
    if metric == "IP":
        return vectors @ q
    return -np.sqrt(np.maximum(((vectors - q) ** 2).sum(axis=1), 0.0))


def _best_per_product(rows: list[Mapping[str, Any]], scores: np.ndarray, limit: int) -> list[Hit]:
    order = sorted(range(len(rows)), key=lambda i: (-float(scores[i]), int(rows[i]["image_id"])))
    hits: dict[int, Hit] = {}
    for i in order:
        product_id = int(rows[i]["product_id"])
        if product_id not in hits:
            hits[product_id] = Hit(int(rows[i]["image_id"]), product_id, float(scores[i]))
            if len(hits) == limit:
                break
    return list(hits.values())
