"""Vectors follow the catalog: a deleted or deactivated product leaves search at once.

Search results are also joined with active products in the database, so even
while Milvus is unreachable a removed product is never shown; the vector delete
is then queued and retried.
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from engine.vector_index import VectorIndexError
from webapp.catalog.models import Product, ProductImage

log = logging.getLogger(__name__)


@receiver(post_delete, sender=ProductImage)
def image_deleted(sender, instance: ProductImage, **kwargs) -> None:
    image_id = instance.pk
    transaction.on_commit(lambda: _forget(image_ids=[image_id]))
    if instance.image:
        instance.image.delete(save=False)


@receiver(post_delete, sender=Product)
def product_deleted(sender, instance: Product, **kwargs) -> None:
    product_id = instance.pk
    transaction.on_commit(lambda: _forget(product_ids=[product_id]))


@receiver(pre_save, sender=Product)
def remember_search_fields(sender, instance: Product, **kwargs) -> None:
    old = Product.objects.filter(pk=instance.pk).values("active", "category_id", "garment_type").first() if instance.pk else None
    instance._search_fields_changed = old is not None and old != {
        "active": instance.active, "category_id": instance.category_id, "garment_type": instance.garment_type
    }


@receiver(post_save, sender=Product)
def product_saved(sender, instance: Product, created: bool, **kwargs) -> None:
    if getattr(instance, "_search_fields_changed", False):
        transaction.on_commit(lambda: _sync(instance))


def _forget(image_ids=None, product_ids=None) -> None:
    """Delete the vectors now if Milvus answers at once; else a worker deletes them (with retries)."""
    from webapp.catalog import indexing
    from webapp.vectors import quick_catalog_index

    try:
        with quick_catalog_index() as index:
            indexing.forget_images(image_ids or [], index)
            indexing.forget_products(product_ids or [], index)
    except VectorIndexError as error:
        log.warning("vector delete deferred (%s); queued for retry", error)
        from workers.tasks import forget_vectors

        forget_vectors.delay(image_ids=image_ids, product_ids=product_ids)


def _sync(product: Product) -> None:
    """Update the vectors' flags now if Milvus answers at once; else a worker updates them (with retries)."""
    from webapp.catalog import indexing
    from webapp.vectors import quick_catalog_index

    try:
        with quick_catalog_index() as index:
            indexing.sync_product(product, index)
    except VectorIndexError as error:
        log.warning("product %s: vector update deferred (%s); queued for retry", product.pk, error)
        from workers.tasks import sync_product_vectors

        sync_product_vectors.delay(product.pk)
