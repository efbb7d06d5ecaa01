"""Big imports are indexed in chains of batches, so a shopper's search never waits behind the whole catalog."""
from __future__ import annotations

import pytest

from webapp.catalog import services
from webapp.catalog.models import Category, IndexState, Product, ProductImage
from tests.webapp.test_api import jpeg_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_images():
    category = Category.objects.create(name="Tops", slug="tops", garment_type="upper")
    product = Product.objects.create(sku="C1", title="Chain", price=5, category=category, garment_type="upper")
    return [ProductImage.objects.create(product=product, image=upload(jpeg_bytes()), index_state=IndexState.PENDING).pk
            for _ in range(7)]


def test_only_one_batch_per_chain_is_queued_and_each_queues_the_next(pending_images, settings, monkeypatch):
    settings.STREETSHOP_INDEX_BATCH, settings.STREETSHOP_INDEX_CHAINS = 2, 2
    sent = []
    monkeypatch.setattr("workers.tasks.index_images.apply_async", lambda args, retry: sent.append(args))
    assert services.enqueue_indexing(pending_images)
    first, second = sent  # two chains, one batch each in the queue
    assert len(first[0]) == 2 and len(second[0]) == 2
    assert sorted(first[0] + first[2] + second[0] + second[2]) == sorted(pending_images)
    sent.clear()
    services.continue_indexing_chain(first[2], None)  # what the task does when its batch ends
    [(batch, job, rest)] = sent
    assert batch == first[2][:2] and rest == first[2][2:]
    assert all(ProductImage.objects.get(pk=pk).index_lease_until is not None for pk in first[2])
