"""The catalog's vector index as the web and the workers see it (one per process).

The collection is named after the configured extractor and its version, so a
new extractor never mixes its vectors with an older model's.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Iterator

from django.conf import settings

from engine import registry
from engine.contracts import Role
from engine.vector_index import CatalogIndex, IndexRow, RetryPolicy

__all__ = ["catalog_index", "quick_catalog_index", "extractor_info", "index_row", "IndexRow"]


def extractor_info():
    """The configured extractor's declared metadata, without loading its weights."""
    name = settings.STREETSHOP_EXTRACTOR or registry.configured_name(Role.EXTRACTOR)
    return registry.plugin_class(name, Role.EXTRACTOR).info


@functools.lru_cache(maxsize=1)
def catalog_index() -> CatalogIndex:
    index = _new_index()
    index.ensure_ready()
    return index


@contextlib.contextmanager
def quick_catalog_index() -> Iterator[CatalogIndex]:
    """The catalog index for a web request's housekeeping (the vectors of a deleted or edited product):
    one attempt of at most MILVUS_QUICK_TIMEOUT_S, no retries. A merchandiser's request must not wait
    minutes on an unreachable Milvus; the caller queues the work for a worker, which retries."""
    index = _new_index(retry=RetryPolicy(attempts=1, rpc_timeout_s=settings.MILVUS_QUICK_TIMEOUT_S))
    try:
        yield index
    finally:
        index.close()


def _new_index(**overrides) -> CatalogIndex:
    info = extractor_info()
    return CatalogIndex(
        uri=settings.MILVUS_URI,
        token=settings.MILVUS_TOKEN or None,
        extractor_name=info.name,
        extractor_version=info.version,
        dim=info.embedding_dim,
        metric=(info.metric or "cosine").upper(),
        **{**settings.MILVUS_HNSW, **overrides},
    )


def index_row(image) -> IndexRow:
    """The Milvus row of a catalog image (a webapp.catalog.models.ProductImage with an embedding)."""
    product = image.product
    return IndexRow(
        image_id=image.pk,
        product_id=product.pk,
        garment_type=product.garment_type,
        category=product.category.slug if product.category_id else "",
        active=product.active,
        embedding=image.vector,
    )
