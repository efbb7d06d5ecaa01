"""Indexing catalog images: run the engine on shop photos, keep the result in the database, the vector in Milvus.

Workers call these functions (workers never touch the ORM themselves). Every
step is idempotent: indexing an image twice upserts the same primary key.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

from django.db import transaction
from django.utils import timezone

from engine.batches import batches
from engine.imageio import ImageError
from engine.pipeline import Pipeline
from engine.types import GarmentType, PipelineResult
from engine.vector_index import CatalogIndex
from webapp.catalog.models import IndexState, Job, JobError, JobStatus, Product, ProductImage
from webapp.vectors import catalog_index, index_row

log = logging.getLogger(__name__)


@dataclass
class IndexSummary:
    indexed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def index_images(image_ids: Sequence[int], pipeline: Pipeline, index=None) -> IndexSummary:
    """Describe the images with the engine (one batch) and upsert their vectors.

    A broken image is marked failed with its reason and the others go on; a
    vector-index outage raises (the task retries) and leaves the rows pending.
    """
    index = index or catalog_index()
    images = list(ProductImage.objects.select_related("product", "product__category").filter(pk__in=image_ids))
    summary = IndexSummary()
    readable, results = _describe(images, pipeline, summary)
    for image, result in zip(readable, results):
        _remember(image, result, pipeline)
    index.upsert([index_row(image) for image in readable])
    with transaction.atomic():
        for image in readable:
            image.save(update_fields=_INDEX_FIELDS)
            summary.indexed.append(image.pk)
        for image in images:
            if image.pk in summary.failed:
                image.mark_failed(summary.failed[image.pk])
                image.save(update_fields=["index_state", "index_error"])
    return summary


def index_queued_images(
    image_ids: Sequence[int], pipeline: Pipeline, *, job_id: int | None = None, count_attempt: bool = True,
    checkpoint=None, index=None,
) -> IndexSummary:
    """The worker's part for a queued batch: index the images still pending, and record it exactly once.

    Safe to deliver twice (a redelivered, recovered or duplicated batch): only
    images still ``pending`` are claimed; each vector is upserted under its image
    id (one vector per image however often it is indexed); an image moves from
    pending to indexed or failed in one conditional update, and only that move
    counts in its job (``index_job``, else ``job_id``), in the same transaction.
    A delivery that is not a Celery retry counts an attempt; an image whose
    deliveries died with their worker STREETSHOP_TASK_MAX_ATTEMPTS times fails
    instead. ``checkpoint(step, images)`` is called once they are ``"claimed"`` and
    once their vectors are ``"upserted"`` (not yet recorded): the test hook of
    workers.runtime pauses there.
    """
    from workers import policy

    summary = IndexSummary()
    images = _claim(image_ids, count_attempt, policy, job_id)
    if checkpoint is not None and images:
        checkpoint("claimed", images)
    readable, results = _describe(images, pipeline, summary)
    for image, result in zip(readable, results):
        _remember(image, result, pipeline)
    if readable:
        (index or catalog_index()).upsert([index_row(image) for image in readable])
        if checkpoint is not None:
            checkpoint("upserted", readable)
    moved = _settle(readable, images, summary, job_id)
    gone = [image.pk for image in readable if image.pk not in moved
            and not ProductImage.objects.filter(pk=image.pk).exists()]
    if gone:  # deleted while we ran: its vector must not stay behind
        (index or catalog_index()).delete_images(gone)
    summary.indexed = [image.pk for image in readable if image.pk in moved]
    summary.failed = {pk: reason for pk, reason in summary.failed.items() if pk in moved}
    return summary


def touch_images(image_ids: Sequence[int]) -> None:
    """The running batch's heartbeat: its worker is alive, keep the lease of its pending images."""
    from workers import policy

    ProductImage.objects.filter(pk__in=list(image_ids), index_state=IndexState.PENDING).update(
        index_lease_until=policy.running_lease_until()
    )


def release_images(image_ids: Sequence[int], counted: bool, retry_in_s: float) -> None:
    """A delivery that ends without indexing (the vector index is away): give its attempt back and
    hold the lease until the retry (or, once the retries are spent, until the recovery queues them)."""
    from django.db.models import F

    from workers import policy

    pending = ProductImage.objects.filter(pk__in=list(image_ids), index_state=IndexState.PENDING)
    pending.update(index_lease_until=policy.running_lease_until(retry_in_s))
    if counted:
        pending.filter(index_attempts__gt=0).update(index_attempts=F("index_attempts") - 1)


def fail_images(image_ids: Sequence[int], reason: str, job_id: int | None = None) -> None:
    """Mark the batch's pending images failed (an error no retry fixes), counted once in their jobs."""
    images = list(ProductImage.objects.filter(pk__in=list(image_ids), index_state=IndexState.PENDING))
    _settle([], images, IndexSummary(failed={image.pk: reason for image in images}), job_id)


def pending_image_ids(limit: int | None = None) -> list[int]:
    ids = ProductImage.objects.filter(index_state=IndexState.PENDING).order_by("pk").values_list("pk", flat=True)
    return list(ids[:limit] if limit else ids)


def start_job(kind: str, total: int, description: str = "", user=None) -> Job:
    return Job.objects.create(kind=kind, total=total, description=description, created_by=user,
                              status=JobStatus.QUEUED)


def record_progress(job_id: int, summary: IndexSummary) -> None:
    """Add a batch's counts and errors to its job (atomic increments: batches may run in parallel)."""
    from django.db.models import F

    with transaction.atomic():
        Job.objects.filter(pk=job_id).update(
            done=F("done") + len(summary.indexed), failed=F("failed") + len(summary.failed), status=JobStatus.RUNNING
        )
        JobError.objects.bulk_create(
            JobError(job_id=job_id, reference=f"image {pk}", message=reason) for pk, reason in summary.failed.items()
        )


def finish_job(job_id: int, message: str = "", failed: bool = False) -> None:
    Job.objects.filter(pk=job_id).update(
        status=JobStatus.FAILED if failed else JobStatus.DONE, finished=timezone.now(), message=message[:2000]
    )


def record_batch_failure(job_id: int, image_ids: Sequence[int], reason: str) -> None:
    record_progress(job_id, IndexSummary(failed={pk: reason for pk in image_ids}))
    finish_job_if_complete(job_id)


def finish_job_if_complete(job_id: int) -> None:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:  # deleted meanwhile
        return
    if job.done + job.failed >= job.total and job.status != JobStatus.DONE:
        finish_job(job_id, f"{job.done} indexed, {job.failed} failed")


def rebuild_catalog(job_id: int, pipeline: Pipeline, batch_size: int | None = None) -> dict:
    """Re-embed every catalog image into a fresh collection, then point the alias at it.

    Searches keep using the old collection until the swap; a failed rebuild
    leaves the live collection untouched.
    """
    from django.conf import settings

    batch_size = batch_size or settings.STREETSHOP_INDEX_BATCH
    live = catalog_index()
    target = live.begin_rebuild()
    ids = list(ProductImage.objects.order_by("pk").values_list("pk", flat=True))
    Job.objects.filter(pk=job_id).update(total=len(ids), done=0, failed=0, status=JobStatus.RUNNING)
    JobError.objects.filter(job_id=job_id).delete()
    for batch in batches(ids, batch_size):
        record_progress(job_id, index_images(batch, pipeline, index=target))
    live.swap_alias(target)
    live.drop_stale_collections()
    job = Job.objects.get(pk=job_id)
    finish_job(job_id, f"{job.done} indexed, {job.failed} failed; search now uses {target.writer_collection}")
    return {"indexed": job.done, "failed": job.failed}


def sync_product(product: Product, index: CatalogIndex | None = None) -> None:
    """Push a product's active flag and category to its vectors (after an edit in the admin or the API)."""
    index = index or catalog_index()
    images = [image for image in product.images.all() if image.embedding is not None]
    if images:
        index.upsert([index_row(image) for image in images])


def forget_images(image_ids: Sequence[int], index: CatalogIndex | None = None) -> None:
    if image_ids:
        (index or catalog_index()).delete_images(list(image_ids))


def forget_products(product_ids: Sequence[int], index: CatalogIndex | None = None) -> None:
    if product_ids:
        (index or catalog_index()).delete_products(list(product_ids))


# --------------------------------------------------------------------------- helpers

_INDEX_FIELDS = [
    "garment", "embedding", "indexed_with", "extractor_key", "index_state", "index_error", "indexed_at", "width",
    "height",
]


def _claim(image_ids, count_attempt: bool, policy, job_id) -> list[ProductImage]:
    """The batch's images still pending, leased to this delivery (those out of attempts fail here)."""
    from django.db.models import F

    ids = list(image_ids)
    pending = ProductImage.objects.filter(pk__in=ids, index_state=IndexState.PENDING)
    if count_attempt:
        exhausted = list(pending.filter(index_attempts__gte=policy.max_attempts()))
        if exhausted:
            reason = (f"indexing stopped its worker {policy.max_attempts()} times (the engine crashed or was "
                      f"killed on this image); re-index it to try again")
            log.error("images %s: %s", [image.pk for image in exhausted], reason)
            _settle([], exhausted, IndexSummary(failed={image.pk: reason for image in exhausted}), job_id)
        pending.update(index_attempts=F("index_attempts") + 1, index_lease_until=policy.running_lease_until())
    else:
        pending.update(index_lease_until=policy.running_lease_until())
    return list(ProductImage.objects.select_related("product", "product__category")
                .filter(pk__in=ids, index_state=IndexState.PENDING).order_by("pk"))


def _settle(readable: list[ProductImage], images: list[ProductImage], summary: IndexSummary,
            job_id: int | None) -> set[int]:
    """Move images from pending to indexed (``readable``) or failed (``summary.failed``), each only if
    it is still pending, and count each move in its job, in one transaction; returns the moved ids."""
    from collections import Counter

    from django.db.models import F

    moved: set[int] = set()
    done, failed, errors = Counter(), Counter(), []
    with transaction.atomic():
        for image in readable:
            fields = {name: getattr(image, name) for name in _INDEX_FIELDS}
            if ProductImage.objects.filter(pk=image.pk, index_state=IndexState.PENDING).update(
                index_attempts=0, index_lease_until=None, **fields
            ):
                moved.add(image.pk)
                done[image.index_job_id or job_id] += 1
        for image in images:
            reason = summary.failed.get(image.pk)
            if reason is None or image.pk in moved:
                continue
            if ProductImage.objects.filter(pk=image.pk, index_state=IndexState.PENDING).update(
                index_state=IndexState.FAILED, index_error=reason[:2000], index_attempts=0, index_lease_until=None
            ):
                moved.add(image.pk)
                job = image.index_job_id or job_id
                failed[job] += 1
                if job is not None:
                    errors.append(JobError(job_id=job, reference=f"image {image.pk}", message=reason))
        for job in (set(done) | set(failed)) - {None}:
            Job.objects.filter(pk=job).update(done=F("done") + done[job], failed=F("failed") + failed[job],
                                              status=JobStatus.RUNNING)
        JobError.objects.bulk_create(errors)
    for job in (set(done) | set(failed)) - {None}:
        finish_job_if_complete(job)
    return moved


def _describe(images: list[ProductImage], pipeline: Pipeline, summary: IndexSummary):
    """Run the engine on the readable images; unreadable ones go to ``summary.failed``."""
    readable, arrays, hints = [], [], []
    from engine.imageio import load_image

    for image in images:
        try:
            with image.image.open("rb") as handle:
                arrays.append(load_image(handle.read()))
        except (ImageError, OSError, ValueError) as error:
            summary.failed[image.pk] = f"cannot read the image: {error}"
            continue
        readable.append(image)
        hints.append(GarmentType(image.product.garment_type))
    results = pipeline.run_batch(arrays, hints) if arrays else []
    keep = []
    for image, result in zip(readable, results):
        if not result.garments or result.garments[0].embedding is None:
            summary.failed[image.pk] = "no garment found in the image"
            continue
        keep.append((image, result))
    return [k[0] for k in keep], [k[1] for k in keep]


def _remember(image: ProductImage, result: PipelineResult, pipeline: Pipeline) -> None:
    """The catalog image's best garment (a shop photo shows one product) goes to the row."""
    garment = max(result.garments, key=lambda g: g.detection.score)
    image.width, image.height = result.image_size
    image.mark_indexed(
        garment.to_dict(include_vector=False),
        garment.embedding.vector,
        result.plugins,
        pipeline.extractor.info.key,
    )
