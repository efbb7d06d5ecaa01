"""The REST API: every endpoint, its permissions, and the errors a user can cause."""
from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from webapp.catalog.models import Category, IndexState, Job, Product, ProductImage
from webapp.search.models import Search, SearchGarment
from webapp.vectors import IndexRow

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def jpeg_bytes(size=(64, 96), colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def upload(data: bytes, name: str = "photo.jpg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/jpeg")


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("merchandiser", password="pw", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def catalog(index):
    """Three indexed products with known embeddings: two dresses, one top; one dress inactive."""
    dresses = Category.objects.create(name="Dresses", slug="dresses", garment_type="full")
    tops = Category.objects.create(name="Tops", slug="tops", garment_type="upper")
    rng = np.random.default_rng(0)
    products, rows = {}, []
    for sku, category, garment_type, price, active in [
        ("D1", dresses, "full", "40.00", True), ("D2", dresses, "full", "90.00", True),
        ("T1", tops, "upper", "20.00", True), ("D3", dresses, "full", "50.00", False),
    ]:
        product = Product.objects.create(sku=sku, title=f"Item {sku}", price=Decimal(price), category=category,
                                         garment_type=garment_type, active=active)
        vector = rng.normal(size=256).astype(np.float32)
        vector /= np.linalg.norm(vector)
        image = ProductImage(product=product, index_state=IndexState.INDEXED, width=64, height=96)
        image.image.save(f"{sku}.jpg", upload(jpeg_bytes()), save=False)
        image.embedding = vector.tobytes()
        image.save()
        rows.append(IndexRow(image.pk, product.pk, garment_type, category.slug, active, vector))
        products[sku] = product
    index.upsert(rows)
    return products


def test_anonymous_users_read_the_catalog_but_cannot_write_it(catalog):
    anonymous = APIClient()
    listed = anonymous.get("/api/v1/products").json()
    assert {p["sku"] for p in listed["results"]} == {"D1", "D2", "T1"}  # the inactive one is hidden
    product = catalog["D1"]
    assert anonymous.get(f"/api/v1/products/{product.pk}").json()["sku"] == "D1"
    assert anonymous.get(f"/api/v1/products/{catalog['D3'].pk}").status_code == 404
    assert anonymous.post("/api/v1/products", {"sku": "X", "title": "x", "garment_type": "upper"}).status_code in (401, 403)
    assert anonymous.patch(f"/api/v1/products/{product.pk}", {"title": "hacked"}, format="json").status_code in (401, 403)
    assert anonymous.delete(f"/api/v1/products/{product.pk}").status_code in (401, 403)
    assert anonymous.post("/api/v1/categories", {"name": "x", "slug": "x"}).status_code in (401, 403)
    assert anonymous.get("/api/v1/jobs").status_code in (401, 403)
    assert Product.objects.get(pk=product.pk).title == "Item D1"


def test_staff_token_writes_the_catalog_and_deactivation_leaves_search_at_once(catalog, staff, index):
    created = staff.post("/api/v1/products", {"sku": "N1", "title": "New top", "garment_type": "upper",
                                              "category": "tops", "price": "12.50", "attributes": ["floral"]},
                         format="json")
    assert created.status_code == 201, created.content
    assert Product.objects.get(sku="N1").category.slug == "tops"
    bad = staff.post("/api/v1/products", {"sku": "N2", "title": "x", "garment_type": "upper", "currency": "euro"},
                     format="json")
    assert bad.status_code == 400 and "currency" in bad.json()

    d1 = catalog["D1"]
    before = {h.product_id for h in index.search(d1.images.first().vector, limit=10)}
    assert d1.pk in before
    assert staff.patch(f"/api/v1/products/{d1.pk}", {"active": False}, format="json").status_code == 200
    after = {h.product_id for h in index.search(d1.images.first().vector, limit=10)}
    assert d1.pk not in after and catalog["D2"].pk in after


def test_similar_products_use_the_stored_embedding_and_respect_type_and_filters(catalog):
    client = APIClient()
    d1 = catalog["D1"]
    similar = client.get(f"/api/v1/products/{d1.pk}/similar").json()
    skus = [row["product"]["sku"] for row in similar]
    assert skus == ["D2"]  # same garment type, itself and the inactive D3 excluded, tops never
    assert client.get(f"/api/v1/products/{d1.pk}/similar?max_price=60").json() == []
    assert client.get(f"/api/v1/products/{d1.pk}/similar?category=nope").status_code == 400


def test_a_search_is_created_with_202_and_reranked_by_filters_without_the_models(catalog, settings):
    client = APIClient()
    response = client.post("/api/v1/searches", {"image": upload(jpeg_bytes()), "category": "dresses"},
                           format="multipart")
    assert response.status_code == 202, response.content
    search = Search.objects.get(pk=response.json()["id"])
    assert search.status == "queued" and search.filters["category"] == "dresses"
    assert response["Location"].endswith(str(search.id))

    # What the worker would store: one dress garment whose embedding is D2's.
    d2 = catalog["D2"]
    SearchGarment.objects.create(search=search, position=0, garment_type="full", box=[0, 0, 64, 96], score=0.9,
                                 landmarks={}, embedding=d2.images.first().embedding,
                                 results=[{"product_id": d2.pk, "image_id": d2.images.first().pk, "score": 1.0}])
    search.mark_done()
    search.save()
    data = client.get(f"/api/v1/searches/{search.id}").json()
    assert data["status"] == "done"
    assert [r["product"]["sku"] for r in data["garments"][0]["results"]] == ["D2"]
    cheap = client.get(f"/api/v1/searches/{search.id}?max_price=60").json()
    assert [r["product"]["sku"] for r in cheap["garments"][0]["results"]] == ["D1"]
    assert client.get(f"/api/v1/searches/{search.id}?min_price=abc").status_code == 400


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"hello, this is text", "not a JPEG, PNG or WebP"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not a JPEG, PNG or WebP"),
    (jpeg_bytes()[:200], "not a readable image"),
])
def test_bad_uploads_get_a_400_that_says_what_is_wrong_and_store_nothing(data, message):
    response = APIClient().post("/api/v1/searches", {"image": upload(data)}, format="multipart")
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Search.objects.exists()


def test_missing_photo_and_unknown_category_are_clear_errors(catalog):
    client = APIClient()
    assert "multipart field 'image'" in client.post("/api/v1/searches", {}, format="multipart").json()["error"]
    response = client.post("/api/v1/searches", {"image": upload(jpeg_bytes()), "category": "hats"}, format="multipart")
    assert response.status_code == 400 and "unknown category" in response.json()["error"]


def test_searches_are_never_listed_and_unknown_ids_are_404():
    client = APIClient()
    assert client.get("/api/v1/searches").status_code in (404, 405)
    assert client.get("/api/v1/searches/00000000-0000-0000-0000-000000000000").status_code == 404


def test_staff_adds_an_image_and_follows_jobs(catalog, staff):
    product = catalog["T1"]
    response = staff.post(f"/api/v1/products/{product.pk}/images", {"image": upload(jpeg_bytes())}, format="multipart")
    assert response.status_code == 202, response.content
    assert product.images.count() == 2 and response.json()["index_state"] == "pending"
    job = Job.objects.create(kind="import", total=2, done=1)
    assert staff.get(f"/api/v1/jobs/{job.pk}").json()["progress"] == 0.5
    assert APIClient().post(f"/api/v1/products/{product.pk}/images", {"image": upload(jpeg_bytes())},
                            format="multipart").status_code in (401, 403)


def test_openapi_schema_and_swagger_page_are_served():
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/searches" in paths or "/api/v1/searches/" in paths
    assert any(path.endswith("/similar") or path.endswith("/similar/") for path in paths)
    assert client.get("/api/docs/").status_code == 200
