"""Shoppers' searches: accept a photo, run the engine (in a worker), find the catalog's products.

The web validates and stores the photo, then queues only the search id. The
worker runs the models once; changing filters afterwards re-queries Milvus
with the stored garment embeddings and never re-runs the models.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from engine.imageio import ImageError, load_image
from engine.pipeline import Pipeline
from engine.vector_index import IndexUnavailable
from webapp.catalog.models import Category, Product
from webapp.search.models import Search, SearchGarment, SearchStatus
from webapp.uploads import checked_photo
from webapp.vectors import catalog_index

log = logging.getLogger(__name__)
UNAVAILABLE = "Search is unavailable right now, please try again in a minute."
STOPPED = ("The search could not be completed: the search worker stopped while running it, more than once. "
           "Please try again with another photo.")


@dataclass(frozen=True)
class Filters:
    category: str = ""  # a category slug
    min_price: Decimal | None = None
    max_price: Decimal | None = None

    @classmethod
    def parse(cls, data) -> "Filters":
        """From query parameters or form fields; raises ValueError with a message for the shopper."""
        category = (data.get("category") or "").strip()
        if category and not Category.objects.filter(slug=category).exists():
            raise ValueError(f"unknown category {category!r}: use one of the slugs of /api/v1/categories")
        return cls(category, _price(data, "min_price"), _price(data, "max_price"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "min_price": str(self.min_price) if self.min_price is not None else None,
            "max_price": str(self.max_price) if self.max_price is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Filters":
        return cls(
            data.get("category") or "",
            Decimal(data["min_price"]) if data.get("min_price") else None,
            Decimal(data["max_price"]) if data.get("max_price") else None,
        )


def create_search(upload, filters: Filters) -> Search:
    """Check the photo (format by its bytes, size, pixel count) and store it; raises ImageError."""
    photo = checked_photo(upload)
    search = Search(filters=filters.to_dict(), width=photo.width, height=photo.height)
    search.photo.save(f"photo.{photo.extension}", ContentFile(photo.data), save=False)
    search.save()
    return search


def run_search(search_id, pipeline: Pipeline, *, count_attempt: bool = True, on_claimed=None) -> Search | None:
    """The worker's part: engine on the photo, garments and their results stored in the database.

    Safe to run twice (a redelivered or recovered task): a done search is left
    alone, and a re-run replaces the garments of an interrupted one. A delivery
    that is not a Celery retry counts an attempt (``count_attempt``); after
    STREETSHOP_TASK_MAX_ATTEMPTS deliveries that died with their worker the
    search fails instead of running again. ``on_claimed(search)`` runs once the
    search is marked running (the test hook of workers.runtime uses it).
    """
    from workers import policy

    search = Search.objects.filter(pk=search_id).first()
    if search is None:  # deleted (retention) before the worker got to it
        return None
    if search.status == SearchStatus.DONE:  # delivered twice: nothing to do
        return search
    if count_attempt and search.attempts >= policy.max_attempts():
        search.mark_failed(STOPPED)
        search.save(update_fields=["status", "error", "finished"])
        log.error("search %s stopped its worker %d times: failed", search.pk, search.attempts)
        return search
    search.mark_running()
    search.attempts += int(count_attempt)
    search.lease_until = policy.running_lease_until()
    search.save(update_fields=["status", "started", "error", "attempts", "lease_until"])
    if on_claimed is not None:
        on_claimed(search)
    try:
        with search.photo.open("rb") as handle:
            image = load_image(handle.read())
    except (ImageError, OSError) as error:
        search.mark_failed(f"The photo could not be read: {error}")
        search.save()
        return search
    result = pipeline.run(image)
    filters = Filters.from_dict(search.filters)
    garments = [_garment_row(search, position, garment) for position, garment in enumerate(result.garments)]
    for garment in garments:
        garment.results = find_products(garment.vector, garment.garment_type, filters)
    with transaction.atomic():
        # Two deliveries of one search (a recovered task whose first worker was only slow) finish one at a time.
        current = Search.objects.select_for_update().filter(pk=search.pk).values_list("status", flat=True).first()
        if current is None:  # deleted meanwhile
            return None
        if current == SearchStatus.DONE:  # the other delivery finished first: keep its results
            return Search.objects.get(pk=search.pk)
        search.garments.all().delete()  # a redelivered search starts clean
        SearchGarment.objects.bulk_create(garments)
        search.plugins = result.plugins
        search.timings_ms = {k: round(v, 2) for k, v in result.timings_ms.items()}
        search.mark_done()
        search.attempts, search.lease_until = 0, None
        search.save()
    return search


def touch_search(search_id) -> None:
    """The running task's heartbeat: its worker is alive, keep the lease."""
    from workers import policy

    Search.objects.filter(pk=search_id, status=SearchStatus.RUNNING).update(lease_until=policy.running_lease_until())


def release_search(search_id, counted: bool, retry_in_s: float) -> None:
    """A delivery that ends with a retry scheduled: give its attempt back, hold the lease until the retry."""
    from django.db.models import F

    from workers import policy

    running = Search.objects.filter(pk=search_id, status=SearchStatus.RUNNING)
    running.update(lease_until=policy.running_lease_until(retry_in_s))
    if counted:
        running.filter(attempts__gt=0).update(attempts=F("attempts") - 1)


def refilter(search: Search, filters: Filters) -> dict[int, list[dict]]:
    """Results per garment position for other filters, from the stored embeddings (no model runs)."""
    return {
        garment.position: find_products(garment.vector, garment.garment_type, filters)
        for garment in search.garments.all()
    }


def find_products(
    vector: np.ndarray, garment_type: str | None, filters: Filters, limit: int | None = None,
    exclude_product: int | None = None,
) -> list[dict]:
    """Best products for one embedding: Milvus (type, category, active), then price from the database."""
    limit = limit or settings.STREETSHOP_RESULTS_PER_GARMENT
    # Price lives in the database; fetch extra hits so that filtering by it still fills the page.
    fetch = limit * (4 if filters.min_price is not None or filters.max_price is not None else 1) + 1
    try:
        hits = catalog_index().search(vector, limit=fetch, garment_type=garment_type or None,
                                      category=filters.category or None)
    except IndexUnavailable as error:
        raise SearchUnavailable(UNAVAILABLE) from error
    products = Product.objects.searchable().filter(pk__in=[h.product_id for h in hits])
    if filters.min_price is not None:
        products = products.filter(price__gte=filters.min_price)
    if filters.max_price is not None:
        products = products.filter(price__lte=filters.max_price)
    allowed = set(products.values_list("pk", flat=True))
    allowed.discard(exclude_product)
    rows = [{"product_id": h.product_id, "image_id": h.image_id, "score": round(float(h.score), 4)}
            for h in hits if h.product_id in allowed]
    return rows[:limit]


class SearchUnavailable(RuntimeError):
    """The vector index cannot answer; the shopper is told to try again."""


def _garment_row(search: Search, position: int, garment) -> SearchGarment:
    embedding = garment.embedding
    return SearchGarment(
        search=search,
        position=position,
        garment_type=garment.detection.garment_type.value,
        box=[round(v, 2) for v in garment.detection.box.as_tuple()],
        score=float(garment.detection.score),
        landmarks=garment.landmarks.to_dict() if garment.landmarks is not None else {},
        category=embedding.category or "",
        category_scores=embedding.category_scores,
        attributes=embedding.attributes,
        embedding=np.asarray(embedding.vector, np.float32).tobytes(),
    )


def _price(data, name: str) -> Decimal | None:
    raw = str(data.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number like 49.90, not {raw!r}") from None
    if value < 0 or not value.is_finite():
        raise ValueError(f"{name} must be zero or more")
    return value


def fail_search(search_id, reason: str) -> None:
    search = Search.objects.filter(pk=search_id).first()
    if search is not None and search.status != SearchStatus.DONE:
        search.mark_failed(reason)
        search.save()


def purge_old_searches(now=None) -> int:
    """Delete searches (photo file included) older than STREETSHOP_SEARCH_RETENTION_HOURS."""
    from datetime import timedelta

    from django.utils import timezone

    cutoff = (now or timezone.now()) - timedelta(hours=settings.STREETSHOP_SEARCH_RETENTION_HOURS)
    count = 0
    for search in Search.objects.filter(created__lt=cutoff).iterator():
        search.photo.delete(save=False)
        search.delete()
        count += 1
    return count


QUEUE_DOWN = "The search queue is not reachable right now; your photo was kept, please try again in a minute."


def enqueue(search: Search) -> bool:
    """Queue the search for a worker (after the row is committed); False when the broker is down.

    Publishing gives up after about STREETSHOP_BROKER_TIMEOUT_S (no retry), so the
    upload answers 503 at once; the search is marked failed, never left queued.
    """
    from kombu.exceptions import KombuError

    from workers.tasks import run_search as task

    try:
        task.apply_async(args=[str(search.id)], retry=False)
    except (KombuError, ConnectionError, OSError) as error:
        log.error("broker unreachable for search %s: %s", search.id, error)
        search.mark_failed(QUEUE_DOWN)
        search.save()
        return False
    return True
