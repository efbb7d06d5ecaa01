"""Celery tasks: thin wrappers that call webapp's services with the process's pipelines.

Transient faults (the vector index or the broker away for a while) are retried
with exponential backoff (workers.policy); when the retries are spent the
failure is written to the database (the search or the job), never only to the
result backend.

Delivery. Tasks are acknowledged when they end (acks_late), and a pool child
killed mid-task puts its message back (task_reject_on_worker_lost). A whole
worker killed can still lose messages (the filesystem broker deletes a message
when it is fetched; Redis returns it only after the visibility timeout), so
searches and catalog images hold a lease in the database, renewed by a
heartbeat while they run; ``recover_lost_work`` (when a worker starts, and on
the beat) queues again whatever lost its lease. Running a search or an
indexing batch twice is harmless (see webapp.search.services.run_search and
webapp.catalog.indexing.index_queued_images).
"""
from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import Retry

from engine.vector_index import IndexUnavailable, VectorIndexError
from workers import policy, runtime

log = logging.getLogger(__name__)


def backoff(retries: int) -> float:
    return policy.backoff(retries)


@shared_task(bind=True, max_retries=None, acks_late=True)
def run_search(self, search_id: str) -> str:
    from webapp.search import services

    counted = self.request.retries == 0  # a Celery retry is the same delivery's continuation

    def claimed(search) -> None:
        runtime.pause_for_tests("run_search:claimed", search.attempts if counted else 0)

    try:
        with runtime.heartbeat(lambda: services.touch_search(search_id), policy.run_lease_s() / 3):
            search = services.run_search(search_id, runtime.pipeline("query"), count_attempt=counted,
                                         on_claimed=claimed)
    except (services.SearchUnavailable, IndexUnavailable) as error:
        retries = policy.search_retries()
        if self.request.retries < retries:
            countdown = backoff(self.request.retries)
            services.release_search(search_id, counted, countdown)
            raise self.retry(exc=error, countdown=countdown, max_retries=retries)
        services.fail_search(search_id, services.UNAVAILABLE)
        return "failed"
    except Exception as error:  # noqa: BLE001 - the shopper must see a reason, not a spinner
        log.exception("search %s failed", search_id)
        services.fail_search(search_id, f"The search failed: {type(error).__name__}: {error}")
        raise
    return search.status if search is not None else "deleted"


@shared_task(bind=True, max_retries=None, acks_late=True)
def index_images(self, image_ids: list[int], job_id: int | None = None, then: list[int] | None = None) -> dict:
    """Index a batch of catalog images (one batched engine call) into the live collection.

    Only images still pending are indexed, each counted once in its job, so a
    redelivered or recovered batch never indexes or counts an image twice. While
    the vector index is unavailable the batch retries with backoff; once the
    retries are spent its images stay pending and the recovery queues them again.

    ``then``: the images of this batch's chain still to come. The next batch is
    queued when this one ends, so a big import holds one batch per chain in the
    queue, and a shopper's search, queued meanwhile, waits for one batch, not for
    the whole catalog (catalog.services.enqueue_indexing makes the chains).
    """
    from webapp.catalog import services

    retrying = False
    try:
        return _index_batch(self, image_ids, job_id, counted=self.request.retries == 0)
    except Retry:
        retrying = True  # the same batch runs again later, and passes the chain on then
        raise
    finally:
        if then and not retrying:
            services.continue_indexing_chain(then, job_id)


def _index_batch(self, image_ids: list[int], job_id: int | None, counted: bool) -> dict:
    from webapp.catalog import indexing

    def checkpoint(step: str, images) -> None:
        attempt = max(image.index_attempts for image in images) if counted else 0
        runtime.pause_for_tests(f"index_images:{step}", attempt)

    try:
        with runtime.heartbeat(lambda: indexing.touch_images(image_ids), policy.run_lease_s() / 3):
            summary = indexing.index_queued_images(image_ids, runtime.pipeline("catalog"), job_id=job_id,
                                                   count_attempt=counted, checkpoint=checkpoint)
    except IndexUnavailable as error:
        retries = policy.task_retries()
        if self.request.retries < retries:
            countdown = backoff(self.request.retries)
            indexing.release_images(image_ids, counted, countdown)
            raise self.retry(exc=error, countdown=countdown, max_retries=retries)
        indexing.release_images(image_ids, counted, 0.0)
        log.warning("batch %s: the vector index stayed unavailable through %d retries; the recovery will "
                    "queue its images again (%s)", image_ids, retries, error)
        return {"indexed": 0, "failed": 0, "left_pending": len(image_ids)}
    except VectorIndexError as error:  # not transient: a retry would fail the same way
        indexing.fail_images(image_ids, f"the vector index refused the batch: {error}", job_id)
        raise
    return {"indexed": len(summary.indexed), "failed": len(summary.failed)}


@shared_task
def recover_lost_work() -> dict:
    """Queue again the searches and catalog images whose task was lost (see workers.recovery)."""
    from workers import recovery

    return recovery.recover()


@shared_task(bind=True, max_retries=policy.task_retries(), acks_late=True)
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


@shared_task(bind=True, max_retries=policy.task_retries(), acks_late=True)
def forget_vectors(self, image_ids: list[int] | None = None, product_ids: list[int] | None = None) -> None:
    """Delete vectors whose rows are gone (queued when the index was down at delete time)."""
    from webapp.catalog import indexing

    try:
        indexing.forget_images(image_ids or [])
        indexing.forget_products(product_ids or [])
    except IndexUnavailable as error:
        raise self.retry(exc=error, countdown=backoff(self.request.retries))


@shared_task(bind=True, max_retries=policy.task_retries(), acks_late=True)
def sync_product_vectors(self, product_id: int) -> None:
    """Push a product's active flag, category and type to its vectors (queued when the index was down
    at edit time). The product as it is now is pushed, so a later edit is never undone."""
    from webapp.catalog import indexing
    from webapp.catalog.models import Product

    product = Product.objects.filter(pk=product_id).select_related("category").first()
    if product is None:  # deleted since: the delete forgets its vectors
        return
    try:
        indexing.sync_product(product)
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
