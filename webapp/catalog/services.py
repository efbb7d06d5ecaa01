"""Catalog operations the admin, the API and the management commands share."""
from __future__ import annotations

import logging
from typing import Sequence

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from webapp.catalog.indexing import batches, start_job
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
    from kombu.exceptions import KombuError

    from workers.policy import queued_lease_until
    from workers.tasks import index_images

    ids = list(image_ids)
    changes = {"index_lease_until": queued_lease_until()}
    if job is not None:
        changes["index_job"] = job
    ProductImage.objects.filter(pk__in=ids, index_state=IndexState.PENDING).update(**changes)
    for start, batch in enumerate(batches(ids, settings.STREETSHOP_INDEX_BATCH)):
        try:
            index_images.apply_async(args=[batch, job.pk if job is not None else None], retry=False)
        except (KombuError, ConnectionError, OSError) as error:
            unsent = ids[start * settings.STREETSHOP_INDEX_BATCH:]
            ProductImage.objects.filter(pk__in=unsent, index_state=IndexState.PENDING).update(index_lease_until=None)
            log.error("broker unreachable: %d images left pending for the recovery to queue (%s)", len(unsent), error)
            return False
    return True


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
