"""From street photo to shop results with every real part: Celery worker process, Milvus Lite server,
the database and broker of the settings (SQLite + filesystem, or PostgreSQL + Redis on the scaled pass)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from webapp.catalog.models import IndexState, Job, Product, ProductImage
from webapp.catalog.services import enqueue_indexing, reindex_catalog
from tests.webapp.catalog_data import import_synthetic_catalog
from tests.webapp.waiting import wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_street_photos_find_their_shop_items_and_a_deleted_product_leaves_the_results(
    tiny_c2s, index, worker, django_user_model
):
    image_ids, streets = import_synthetic_catalog(tiny_c2s)
    broken = ProductImage.objects.get(pk=image_ids[-1])
    with open(broken.image.path, "wb") as handle:  # damaged on disk after the import
        handle.write(b"not an image any more")
    enqueue_indexing(image_ids)
    wait_until(lambda: not ProductImage.objects.filter(index_state=IndexState.PENDING).exists(), 240,
               "the worker to index the catalog")
    broken.refresh_from_db()
    assert broken.index_state == IndexState.FAILED and "cannot read the image" in broken.index_error
    image_ids = image_ids[:-1]
    assert ProductImage.objects.filter(index_state=IndexState.INDEXED).count() == len(image_ids)
    assert index.count() == len(image_ids)

    shopper = APIClient()
    found = {}
    for sku in sorted(streets):
        search = _search(shopper, streets[sku][0])
        assert search["status"] == "done", search["error"]
        assert search["garments"], "the worker stored no garment"
        found[sku] = {g["results"][0]["product"]["sku"] for g in search["garments"] if g["results"]}
    hits = [sku for sku, tops in found.items() if sku in tops]
    # Ten items, one street photo each; some synthetic outfits are truly ambiguous (a tee over a
    # skirt of the same colour reads as a dress), so most, not all, must find their own item first.
    assert len(hits) >= 0.6 * len(found), f"top products per query: {found}"

    # Re-index everything into a new collection; the alias moves when it is complete.
    before = index.live_collection()
    job = reindex_catalog()
    wait_until(lambda: Job.objects.get(pk=job.pk).status in ("done", "failed"), 240, "the re-index job")
    job.refresh_from_db()
    assert job.status == "done" and job.done == len(image_ids) and job.failed == 1, job.message
    assert index.live_collection() != before and index.count() == len(image_ids)
    assert sku_found_again(shopper, streets, hits[0])

    sku = hits[0]
    product = Product.objects.get(sku=sku)
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_user("merch", is_staff=True))
    assert staff.delete(f"/api/v1/products/{product.pk}").status_code == 204
    assert index.count() == len(image_ids) - 1
    again = _search(shopper, streets[sku][0])
    assert all(r["product"]["sku"] != sku for g in again["garments"] for r in g["results"])


def sku_found_again(client: APIClient, streets, sku: str) -> bool:
    search = _search(client, streets[sku][0])
    return any(g["results"] and g["results"][0]["product"]["sku"] == sku for g in search["garments"])


def _search(client: APIClient, photo) -> dict:
    with open(photo, "rb") as handle:
        response = client.post("/api/v1/searches", {"image": handle}, format="multipart")
    assert response.status_code == 202, response.content
    url = f"/api/v1/searches/{response.json()['id']}"
    return wait_until(lambda: (d := client.get(url).json())["status"] in ("done", "failed") and d, 180,
                      "the worker to run the search")
