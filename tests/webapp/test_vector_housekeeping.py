"""A catalog delete never keeps a merchandiser waiting on an unreachable Milvus: the request tries
once, briefly, and otherwise leaves the vector delete to a worker (which retries)."""
from __future__ import annotations

import pytest

from engine.milvus_server import free_port
from engine.vector_index import CatalogIndex
from webapp.catalog.models import Product


@pytest.fixture
def unreachable_milvus(settings):
    settings.MILVUS_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.MILVUS_QUICK_TIMEOUT_S = 0.5


@pytest.fixture
def milvus_calls(monkeypatch):
    calls = []
    original = CatalogIndex._call

    def counted(self, what, operation):
        calls.append((what, self.retry.attempts))
        return original(self, what, operation)

    monkeypatch.setattr(CatalogIndex, "_call", counted)
    return calls


@pytest.fixture
def queued(monkeypatch):
    from workers import tasks

    jobs = []
    monkeypatch.setattr(tasks.forget_vectors, "delay", lambda **kwargs: jobs.append(kwargs))
    monkeypatch.setattr(tasks.sync_product_vectors, "delay", lambda product_id: jobs.append({"sync": product_id}))
    return jobs


@pytest.mark.django_db
def test_deleting_a_product_while_milvus_is_unreachable_queues_its_vector_delete(
    unreachable_milvus, milvus_calls, queued, django_capture_on_commit_callbacks
):
    product = Product.objects.create(sku="GONE-1", title="Gone", garment_type="upper")
    pk = product.pk
    with django_capture_on_commit_callbacks(execute=True):
        product.delete()

    assert not Product.objects.filter(pk=pk).exists()
    assert milvus_calls == [("delete products", 1)]  # one short try, no retry loop in the request
    assert queued == [{"image_ids": None, "product_ids": [pk]}]


@pytest.mark.django_db
def test_deleting_a_product_with_milvus_up_deletes_its_vectors_in_the_request(
    index, milvus_calls, queued, django_capture_on_commit_callbacks
):
    import numpy as np

    from engine.vector_index import IndexRow

    product = Product.objects.create(sku="GONE-2", title="Gone", garment_type="upper")
    pk = product.pk
    vector = np.full(index.dim, index.dim ** -0.5, np.float32)
    index.upsert([IndexRow(image_id=990001, product_id=product.pk, garment_type="upper", category="", active=True,
                           embedding=vector)])
    assert [h.product_id for h in index.search(vector, limit=5)] == [product.pk]
    milvus_calls.clear()

    with django_capture_on_commit_callbacks(execute=True):
        product.delete()

    assert queued == []
    assert ("delete products", 1) in milvus_calls
    assert [row for row in index.rows(["product_id"]) if row["product_id"] == pk] == []  # read strongly


@pytest.mark.django_db
def test_deactivating_a_product_while_milvus_is_unreachable_queues_its_vector_update(
    unreachable_milvus, milvus_calls, queued, django_capture_on_commit_callbacks
):
    import numpy as np

    from webapp.catalog.models import ProductImage

    product = Product.objects.create(sku="HIDE-1", title="Hidden", garment_type="upper")
    ProductImage.objects.create(product=product, embedding=np.zeros(256, np.float32).tobytes())  # indexed once
    product.active = False
    with django_capture_on_commit_callbacks(execute=True):
        product.save()

    assert Product.objects.get(pk=product.pk).active is False
    assert [what for what, attempts in milvus_calls if attempts != 1] == []  # short tries only
    assert queued == [{"sync": product.pk}]


@pytest.mark.django_db
def test_the_queued_vector_update_pushes_the_product_as_it_is_now(index, queued):
    import numpy as np

    from engine.vector_index import IndexRow
    from webapp.catalog.models import ProductImage
    from workers.tasks import sync_product_vectors

    product = Product.objects.create(sku="HIDE-2", title="Hidden", garment_type="upper")
    vector = np.full(index.dim, index.dim ** -0.5, np.float32)
    image = ProductImage.objects.create(product=product, embedding=vector.tobytes())
    index.upsert([IndexRow(image_id=image.pk, product_id=product.pk, garment_type="upper", category="", active=True,
                           embedding=vector)])
    Product.objects.filter(pk=product.pk).update(active=False)  # the edit whose sync was deferred

    sync_product_vectors.apply(args=[product.pk]).get()

    rows = [row for row in index.rows(["product_id", "active"]) if row["product_id"] == product.pk]  # read strongly
    assert [row["active"] for row in rows] == [False]  # inactive: out of search
    sync_product_vectors.apply(args=[987654]).get()  # a product deleted meanwhile: nothing to do
