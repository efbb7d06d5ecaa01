"""Celery tasks: thin wrappers that call webapp's services with the process's pipelines.

Transient faults (the vector index or the broker away for a while) are retried
with exponential backoff; when the retries are spent the failure is written to
the database (the search or the job), never only to the result backend.
"""
from __future__ import annotations

import logging

from celery import shared_task

from engine.vector_index import IndexUnavailable, VectorIndexError
from workers import runtime

log = logging.getLogger(__name__)
RETRY = {"max_retries": 6, "backoff_base": 2.0, "backoff_max": 60.0}


def backoff(retries: int) -> float:
    return min(RETRY["backoff_base"] * 2**retries, RETRY["backoff_max"])


@shared_task(bind=True, max_retries=RETRY["max_retries"], acks_late=True)
def run_search(self, search_id: str) -> str:
    from webapp.search import services

    try:
        search = services.run_search(search_id, runtime.pipeline("query"))
    except (services.SearchUnavailable, IndexUnavailable) as error:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=error, countdown=backoff(self.request.retries))
        services.fail_search(search_id, services.UNAVAILABLE)
        return "failed"
    except Exception as error:  # noqa: BLE001 - the shopper must see a reason, not a spinner
        log.exception("search %s failed", search_id)
        services.fail_search(search_id, f"The search failed: {type(error).__name__}: {error}")
        raise
    return search.status if search is not None else "deleted"


@shared_task(bind=True, max_retries=RETRY["max_retries"], acks_late=True)
def index_images(self, image_ids: list[int], job_id: int | None = None) -> dict:
    """Index a batch of catalog images (one batched engine call) into the live collection."""
    from webapp.catalog import indexing

    try:
        summary = indexing.index_images(image_ids, runtime.pipeline("catalog"))
    except (IndexUnavailable, VectorIndexError) as error:
        if isinstance(error, IndexUnavailable) and self.request.retries < self.max_retries:
            raise self.retry(exc=error, countdown=backoff(self.request.retries))
        if job_id is not None:
            indexing.record_batch_failure(job_id, image_ids, str(error))
        raise
    if job_id is not None:
        indexing.record_progress(job_id, summary)
        indexing.finish_job_if_complete(job_id)
    return {"indexed": len(summary.indexed), "failed": len(summary.failed)}


@shared_task(bind=True, max_retries=RETRY["max_retries"], acks_late=True)
def reindex_catalog(self, job_id: int) -> dict:
    """Re-embed every image into a new collection, then swap the alias: search never stops."""
    from webapp.catalog import indexing

    try:
        return indexing.rebuild_catalog(job_id, runtime.pipeline("catalog"))
    except IndexUnavailable as error:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=error, countdown=backoff(self.request.retries))
        indexing.finish_job(job_id, f"the vector index stayed unavailable: {error}", failed=True)
        raise


@shared_task(bind=True, max_retries=RETRY["max_retries"], acks_late=True)
def forget_vectors(self, image_ids: list[int] | None = None, product_ids: list[int] | None = None) -> None:
    """Delete vectors whose rows are gone (queued when the index was down at delete time)."""
    from webapp.catalog import indexing

    try:
        indexing.forget_images(image_ids or [])
        indexing.forget_products(product_ids or [])
    except IndexUnavailable as error:
        raise self.retry(exc=error, countdown=backoff(self.request.retries))


@shared_task(bind=True, acks_late=True)
def import_catalog(self, job_id: int, spec: dict) -> dict:
    """A merchandiser's import: store the good rows, report the bad ones, queue the new images."""
    from webapp.catalog import importing, indexing
    from webapp.catalog.models import JobKind
    from webapp.catalog.services import enqueue_indexing

    try:
        new_images = importing.run_import(job_id, **spec)
    except Exception as error:  # noqa: BLE001 - the job page must say why, not stay "queued"
        log.exception("import job %s failed", job_id)
        indexing.finish_job(job_id, f"the import failed: {type(error).__name__}: {error}", failed=True)
        raise
    if new_images:
        job = indexing.start_job(JobKind.REINDEX, len(new_images), f"index {len(new_images)} imported images")
        enqueue_indexing(new_images, job)
    return {"new_images": len(new_images)}


@shared_task
def purge_old_searches() -> int:
    """Delete shoppers' photos and results older than the retention period."""
    from webapp.search import services

    return services.purge_old_searches()
