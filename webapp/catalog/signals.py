"""Vectors follow the catalog: a deleted or deactivated product leaves search at once.

Search results are also joined with active products in the database, so even
while Milvus is unreachable a removed product is never shown; the vector delete
is then queued and retried.
"""
from __future__ import annotations

import logging
from typing import Callable

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from engine.vector_index import CatalogIndex, VectorIndexError
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
    from webapp.catalog import indexing
    from workers.tasks import forget_vectors

    def delete(index) -> None:
        indexing.forget_images(image_ids or [], index)
        indexing.forget_products(product_ids or [], index)

    _now_or_by_a_worker(delete, lambda: forget_vectors.delay(image_ids=image_ids, product_ids=product_ids),
                        "vector delete")


def _sync(product: Product) -> None:
    from webapp.catalog import indexing
    from workers.tasks import sync_product_vectors

    _now_or_by_a_worker(lambda index: indexing.sync_product(product, index),
                        lambda: sync_product_vectors.delay(product.pk), f"product {product.pk}: vector update")


def _now_or_by_a_worker(update: Callable[[CatalogIndex], None], queue: Callable[[], None], what: str) -> None:
    """Do ``update`` on the vectors now if Milvus answers at once (quick_catalog_index: one short try);
    else ``queue`` the same work for a worker, which retries. A request never waits on Milvus."""
    from webapp.vectors import quick_catalog_index

    try:
        with quick_catalog_index() as index:
            update(index)
    except VectorIndexError as error:
        log.warning("%s deferred (%s); queued for retry", what, error)
        queue()
