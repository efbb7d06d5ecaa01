"""Does the vector index still match the catalog? ``check_index`` compares them, ``repair`` makes them agree.

The database is the source of truth (see webapp.catalog.models); the live Milvus
collection should hold exactly one row per catalog image the database says is
indexed, carrying that image's current product, garment type, category and
active flag. Three things can go wrong, and each has its fix:

* missing: an image in state ``indexed`` has no vector (a lost write, a
  restored Milvus). Fixed by upserting its stored embedding, or by indexing it
  again when there is none (or it came from another extractor version).
* extra: a vector whose image no longer exists (deleted, or its product was,
  while Milvus was away). Fixed by deleting the vector.
* stale: a vector whose fields disagree with the database (an edit made with
  ``queryset.update()``, which sends no signal; a sync that failed), or whose
  image was embedded by another extractor version than the live collection's.
  Fixed by upserting the row again from the stored embedding; a vector of
  another model is deleted and its image indexed again.

Images still ``pending`` are reported, not judged (a worker may be on them);
``repair`` queues them again. Images in state ``failed`` are left alone.

Every fix is idempotent: after a repair a second check finds nothing, and a
second repair does nothing. The index is read before the database, so an image
indexed during the check shows up at worst as missing (and its upsert is
harmless), never as extra; extra vectors are checked against the database again
just before they are deleted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

from django.conf import settings
from django.db import transaction

from engine.batches import batches
from webapp.catalog.indexing import index_images
from webapp.catalog.models import IndexState, ProductImage
from webapp.vectors import catalog_index, index_row

log = logging.getLogger(__name__)

PROBLEMS = ("missing", "extra", "stale")


@dataclass
class IndexReport:
    """What ``check_index`` found; ids are sorted image ids."""

    collection: str
    extractor: str  # "name@version" of the live collection
    vectors: int = 0
    images: int = 0
    indexed: int = 0
    failed: int = 0
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    stale: dict[int, list[str]] = field(default_factory=dict)  # image id -> what disagrees
    pending: list[int] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.stale)

    @property
    def clean(self) -> bool:
        """Nothing to fix (pending images are in flight, not a problem)."""
        return self.problems == 0

    def to_dict(self, examples: int | None = None) -> dict[str, Any]:
        def part(ids: Sequence[int]) -> dict[str, Any]:
            return {"count": len(ids), "examples": list(ids[:examples] if examples is not None else ids)}

        stale = part(sorted(self.stale))
        stale["examples"] = [{"image_id": pk, "fields": self.stale[pk]} for pk in stale["examples"]]
        return {
            "collection": self.collection, "extractor": self.extractor, "vectors": self.vectors,
            "images": self.images, "indexed": self.indexed, "failed": self.failed, "clean": self.clean,
            "missing": part(self.missing), "extra": part(self.extra), "stale": stale, "pending": part(self.pending),
        }


@dataclass
class RepairResult:
    """What ``repair`` did; ids are image ids."""

    deleted: list[int] = field(default_factory=list)  # vectors removed (extra, or of another model)
    rewritten: list[int] = field(default_factory=list)  # rows upserted from stored embeddings
    reindexed: list[int] = field(default_factory=list)  # indexed again here (sync)
    failed: dict[int, str] = field(default_factory=dict)  # could not be indexed again (sync)
    queued: list[int] = field(default_factory=list)  # marked pending and queued for the workers
    requeued: list[int] = field(default_factory=list)  # were pending already, queued again

    @property
    def changes(self) -> int:
        """How many fixes were made (queueing pending images again is not a change)."""
        return len(self.deleted) + len(self.rewritten) + len(self.reindexed) + len(self.failed) + len(self.queued)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted, "rewritten": self.rewritten, "reindexed": self.reindexed,
            "failed": {str(pk): reason for pk, reason in self.failed.items()}, "queued": self.queued,
            "requeued": self.requeued, "changes": self.changes,
        }


def check_index(index=None) -> IndexReport:
    """Compare the live collection with the database (one scan of each, no vectors read)."""
    index = index or catalog_index()
    report = IndexReport(collection=index.live_collection() or "", extractor=_live_key(index))
    vectors = {int(row["image_id"]): row for row in index.rows()}  # the index first: see the module docstring
    report.vectors = len(vectors)
    images = ProductImage.objects.values_list(
        "pk", "product_id", "product__garment_type", "product__category__slug", "product__active",
        "index_state", "extractor_key", "indexed_with",
    ).order_by("pk")
    seen = set()
    for pk, product_id, garment_type, category, active, state, key, plugins in images.iterator(chunk_size=2000):
        seen.add(pk)
        report.images += 1
        if state == IndexState.PENDING:
            report.pending.append(pk)
            continue
        report.indexed += state == IndexState.INDEXED
        report.failed += state == IndexState.FAILED
        row = vectors.get(pk)
        if row is None:
            if state == IndexState.INDEXED:
                report.missing.append(pk)
            continue
        expected = {"product_id": product_id, "garment_type": garment_type, "category": category or "",
                    "active": bool(active)}
        wrong = [name for name, value in expected.items() if _stored(row, name) != value]
        recorded = _recorded_key(key, plugins)
        if recorded and recorded != report.extractor:
            wrong.append("extractor")
        if wrong:
            report.stale[pk] = wrong
    report.extra = sorted(pk for pk in vectors if pk not in seen)
    return report


def repair(report: IndexReport, index=None, *, sync: bool = False, pipeline=None,
           requeue_pending: bool = True) -> RepairResult:
    """Fix what ``report`` found; returns what was done.

    Rows are rebuilt from the database as it is now. An image that needs the
    models again is marked pending and queued for the workers, or, with
    ``sync``, indexed here with ``pipeline`` (default: the worker's catalog
    pipeline). Pending images of the report are queued again (or indexed
    here with ``sync``) unless ``requeue_pending`` is false.
    """
    index = index or catalog_index()
    live_key = _live_key(index)
    result = RepairResult()

    # Extra vectors: delete those whose image is still gone.
    still_there = set(ProductImage.objects.filter(pk__in=report.extra).values_list("pk", flat=True))
    doomed = [pk for pk in report.extra if pk not in still_there]

    # Missing and stale: upsert from the stored embedding where it is this model's, else index again.
    targets = sorted(set(report.missing) | set(report.stale))
    images = {image.pk: image for image in
              ProductImage.objects.select_related("product", "product__category").filter(pk__in=targets)}
    rows, again = [], []
    for pk in targets:
        image = images.get(pk)
        if image is None:  # deleted since the check
            doomed.append(pk)
        elif image.index_state == IndexState.PENDING:  # a worker has it now
            continue
        elif _reusable(image, index.dim, live_key):
            rows.append(index_row(image))
            result.rewritten.append(pk)
        else:
            again.append(pk)
            if pk in report.stale:  # a vector that cannot be fixed in place leaves search until re-indexed
                doomed.append(pk)

    if doomed:
        index.delete_images(doomed)
        result.deleted = sorted(set(doomed))
    if rows:
        index.upsert(rows)

    pending = []
    if requeue_pending and report.pending:
        pending = sorted(ProductImage.objects.filter(pk__in=report.pending, index_state=IndexState.PENDING)
                         .values_list("pk", flat=True))
    if sync:
        _index_here(again, pending, index, pipeline, result)
    else:
        _queue(again, pending, result)
    log.info("index repair: %s", {k: len(v) if not isinstance(v, int) else v for k, v in result.to_dict().items()})
    return result


# --------------------------------------------------------------------------- helpers


def _live_key(index) -> str:
    return f"{index.extractor_name}@{index.extractor_version}"


def _recorded_key(extractor_key: str, indexed_with: Any) -> str:
    """The extractor that embedded an image ("" when the database does not say)."""
    if extractor_key:
        return extractor_key
    return str(indexed_with.get("extractor", "")) if isinstance(indexed_with, dict) else ""


def _stored(row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    if name == "product_id":
        return int(value)
    if name == "active":
        return bool(value)
    return value


def _reusable(image: ProductImage, dim: int, live_key: str) -> bool:
    """The stored embedding can go to the live collection as it is."""
    if image.embedding is None:
        return False
    recorded = _recorded_key(image.extractor_key, image.indexed_with)
    if recorded and recorded != live_key:
        return False
    vector = image.vector
    return vector is not None and vector.shape == (dim,)


def _index_here(again: list[int], pending: list[int], index, pipeline, result: RepairResult) -> None:
    ids = again + pending
    if not ids:
        return
    if pipeline is None:
        from workers.runtime import pipeline as worker_pipeline

        pipeline = worker_pipeline("catalog")
    for batch in batches(ids, settings.STREETSHOP_INDEX_BATCH):
        summary = index_images(batch, pipeline, index=index)
        result.reindexed.extend(summary.indexed)
        result.failed.update(summary.failed)


def _queue(again: list[int], pending: list[int], result: RepairResult) -> None:
    from webapp.catalog.services import enqueue_indexing

    if again:
        ProductImage.objects.filter(pk__in=again).update(index_state=IndexState.PENDING, index_error="")
        result.queued = list(again)
    result.requeued = list(pending)
    ids = again + pending
    if ids:
        transaction.on_commit(lambda: enqueue_indexing(ids))
