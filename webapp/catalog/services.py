"""Catalog operations the admin, the API and the management commands share."""
from __future__ import annotations

import logging
from typing import Sequence

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from engine.batches import batches
from webapp.catalog.indexing import start_job
from webapp.catalog.models import IndexState, JobKind, Product, ProductImage
from webapp.uploads import checked_photo

log = logging.getLogger(__name__)


def add_image(product: Product, upload) -> ProductImage:
    """Store a checked image for a product, pending indexing; raises ImageError."""
    photo = checked_photo(upload)
    position = product.images.count()
    image = ProductImage(product=product, position=position, width=photo.width, height=photo.height)
    image.image.save(f"{product.sku}-{position}.{photo.extension}", ContentFile(photo.data), save=False)
    image.save()
    return image


def enqueue_indexing(image_ids: Sequence[int], job=None) -> bool:
    """Queue batches of images for the model workers; False when the broker is unreachable.

    The images' lease starts now (and they count in ``job``). A batch the broker
    refuses is not lost: its images stay pending with no lease, and
    workers.recovery queues them again once a worker reaches the broker.
    """
    from workers.policy import queued_lease_until

    ids = list(image_ids)
    changes = {"index_lease_until": queued_lease_until()}
    if job is not None:
        changes["index_job"] = job
    ProductImage.objects.filter(pk__in=ids, index_state=IndexState.PENDING).update(**changes)
    # A few chains of batches, each batch queuing the next when it ends (workers.tasks.index_images): the
    # queue never holds the whole catalog in front of a shopper's search.
    chains = max(1, settings.STREETSHOP_INDEX_CHAINS)
    batch_list = list(batches(ids, settings.STREETSHOP_INDEX_BATCH))
    own = [[image_id for batch in batch_list[chain::chains] for image_id in batch] for chain in range(chains)]
    for chain, chain_ids in enumerate(own):
        if chain_ids and not _send_chain(chain_ids, job.pk if job is not None else None):
            # This chain's images are already released; so are the chains not sent yet.
            _release([image_id for later in own[chain + 1:] for image_id in later])
            return False
    return True


def continue_indexing_chain(image_ids: Sequence[int], job_id: int | None) -> None:
    """Queue the next batch of a chain (its images' lease renewed: they are still on their way)."""
    from workers.policy import queued_lease_until

    ids = list(image_ids)
    ProductImage.objects.filter(pk__in=ids, index_state=IndexState.PENDING).update(index_lease_until=queued_lease_until())
    _send_chain(ids, job_id)


def _send_chain(ids: list[int], job_id: int | None) -> bool:
    """Queue the chain's first batch, carrying the rest; when the broker refuses, the images stay pending
    with no lease, and workers.recovery queues them again once a worker reaches the broker."""
    from kombu.exceptions import KombuError

    from workers.tasks import index_images

    size = settings.STREETSHOP_INDEX_BATCH
    try:
        index_images.apply_async(args=[ids[:size], job_id, ids[size:]], retry=False)
    except (KombuError, ConnectionError, OSError) as error:
        _release(ids)
        log.error("broker unreachable: %d images left pending for the recovery to queue (%s)", len(ids), error)
        return False
    return True


def _release(ids: list[int]) -> None:
    ProductImage.objects.filter(pk__in=ids, index_state=IndexState.PENDING).update(index_lease_until=None)


def reindex_images(image_ids: Sequence[int], user=None):
    """Re-index the given images into the live collection, as one job."""
    from workers.policy import queued_lease_until

    ids = list(image_ids)
    job = start_job(JobKind.REINDEX, len(ids), f"re-index {len(ids)} selected images", user)
    ProductImage.objects.filter(pk__in=ids).update(index_state=IndexState.PENDING, index_error="", index_attempts=0,
                                                   index_job=job, index_lease_until=queued_lease_until())
    transaction.on_commit(lambda: enqueue_indexing(ids, job))
    return job


def reindex_catalog(user=None):
    """Rebuild the whole index in a new collection and swap it in (search keeps working)."""
    from workers.tasks import reindex_catalog as task

    total = ProductImage.objects.count()
    job = start_job(JobKind.REINDEX, total, "re-index the whole catalog into a new collection", user)
    transaction.on_commit(lambda: task.delay(job.pk))
    return job


def similar_products(product: Product, filters, limit: int | None = None) -> list[dict]:
    """"More like this": search with the product's first indexed image's embedding."""
    from webapp.search.services import find_products

    image = product.images.filter(index_state=IndexState.INDEXED).exclude(embedding=None).first()
    if image is None:
        return []
    return find_products(image.vector, product.garment_type, filters, limit=limit, exclude_product=product.pk)
