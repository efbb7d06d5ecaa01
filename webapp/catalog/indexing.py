"""Indexing catalog images: run the engine on shop photos, keep the result in the database, the vector in Milvus.

Workers call these functions (workers never touch the ORM themselves). Every
step is idempotent: indexing an image twice upserts the same primary key.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from django.db import transaction
from django.utils import timezone

from engine.imageio import ImageError
from engine.pipeline import Pipeline
from engine.types import GarmentType, PipelineResult
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


def pending_image_ids(limit: int | None = None) -> list[int]:
    ids = ProductImage.objects.filter(index_state=IndexState.PENDING).order_by("pk").values_list("pk", flat=True)
    return list(ids[:limit] if limit else ids)


def batches(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


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
    job = Job.objects.get(pk=job_id)
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


def sync_product(product: Product) -> None:
    """Push a product's active flag and category to its vectors (after an edit in the admin or the API)."""
    index = catalog_index()
    images = [image for image in product.images.all() if image.embedding is not None]
    if images:
        index.upsert([index_row(image) for image in images])


def forget_images(image_ids: Sequence[int]) -> None:
    if image_ids:
        catalog_index().delete_images(list(image_ids))


def forget_products(product_ids: Sequence[int]) -> None:
    if product_ids:
        catalog_index().delete_products(list(product_ids))


# --------------------------------------------------------------------------- helpers

_INDEX_FIELDS = [
    "garment", "embedding", "indexed_with", "extractor_key", "index_state", "index_error", "indexed_at", "width",
    "height",
]


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
