"""The merchandisers' admin: staff only, imports with per-row errors, previews, re-index actions."""
from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from webapp.catalog.models import Category, Job, JobError, Product, ProductImage
from tests.webapp.waiting import wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def jpeg(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 60), colour).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def merchandiser(client, django_user_model):
    user = django_user_model.objects.create_user("merch", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_the_admin_is_for_staff_only(client, django_user_model):
    assert client.get("/admin/catalog/product/").status_code == 302  # to the login page
    django_user_model.objects.create_user("shopper", password="pw")
    client.login(username="shopper", password="pw")
    assert client.get("/admin/catalog/product/import/").status_code == 302


def test_import_runs_in_a_worker_stores_good_rows_and_reports_each_bad_row(merchandiser, index, worker):
    csv = (
        "sku,title,price,image,category,brand\n"
        "A1,Red dress,49.90,a1.jpg,Dresses,Kestrel\n"
        "A2,Blue top,not-a-price,a2.jpg,Tops,Kestrel\n"
        "A3,Green skirt,19.00,missing.jpg,Skirts,Kestrel\n"
        "A4,=HYPERLINK(\"x\"),10,a1.jpg,Tops,Kestrel\n"
        "A5,Grey tee,15.00,a5.jpg,Tops,Lumen\n"
    ).encode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a1.jpg", jpeg((200, 0, 0)))
        zf.writestr("a2.jpg", jpeg((0, 0, 200)))
        zf.writestr("a5.jpg", jpeg((90, 90, 90)))
        zf.writestr("../evil.jpg", jpeg((0, 0, 0)))
    response = merchandiser.post("/admin/catalog/product/import/", {
        "source": "csv",
        "csv_file": _file("products.csv", csv),
        "archive": _file("images.zip", archive.getvalue()),
    })
    assert response.status_code == 302, response.content[:2000]
    job = Job.objects.filter(kind="import").get()
    wait_until(lambda: Job.objects.get(pk=job.pk).status in ("done", "failed"), 60, "the worker to import")
    job.refresh_from_db()
    assert set(Product.objects.values_list("sku", flat=True)) == {"A1", "A5"}
    assert Category.objects.filter(name="Dresses").exists()
    lines = {e.line: e.message for e in JobError.objects.filter(job=job, line__isnull=False)}
    assert set(lines) == {3, 4, 5}
    assert "price" in lines[3] and "missing.jpg" in lines[4]
    assert any("evil" in e.message for e in JobError.objects.filter(job=job, line__isnull=True))
    assert job.done == 2 and job.failed == 3
    page = merchandiser.get(f"/admin/catalog/job/{job.pk}/change/")
    assert page.status_code == 200 and b"missing.jpg" in page.content
    # The new images were queued for indexing as their own job, and the worker indexes them.
    index_job = Job.objects.get(kind="reindex")
    assert index_job.total == ProductImage.objects.count() == 2
    wait_until(lambda: Job.objects.get(pk=index_job.pk).status == "done", 120, "the worker to index the imports")
    assert index.count() == 2


def test_import_form_explains_what_is_missing(merchandiser):
    response = merchandiser.post("/admin/catalog/product/import/", {"source": "csv"})
    assert response.status_code == 200
    assert b"Choose the CSV file to import" in response.content
    response = merchandiser.post("/admin/catalog/product/import/", {"source": "inshop", "folder": "/etc"})
    assert b"outside the allowed import folders" in response.content


def test_product_pages_show_thumbnails_and_landmark_previews(merchandiser, index):
    product = Product.objects.create(sku="P1", title="Dress", garment_type="full")
    image = ProductImage(product=product, width=40, height=60, index_state="indexed",
                         garment={"box": [1, 2, 30, 50], "landmarks": {
                             "left_collar": {"x": 10, "y": 5, "visibility": "visible"},
                             "right_hem": {"x": 30, "y": 50, "visibility": "occluded"},
                             "left_hem": {"x": 0, "y": 0, "visibility": "absent"}}})
    image.image.save("p1.jpg", _file("p1.jpg", jpeg((10, 200, 10))), save=True)
    listing = merchandiser.get("/admin/catalog/product/").content.decode()
    assert image.image.url in listing and "1/1 indexed" in listing
    detail = merchandiser.get(f"/admin/catalog/productimage/{image.pk}/change/").content.decode()
    assert detail.count("<circle") == 2  # the absent landmark is not drawn
    assert 'fill="#f58231"' in detail  # occluded has its own colour


def test_reindex_actions_create_jobs(merchandiser, index, monkeypatch):
    sent = []
    monkeypatch.setattr("webapp.catalog.services.enqueue_indexing", lambda ids, job=None: sent.append(ids))
    product = Product.objects.create(sku="P2", title="Top", garment_type="upper")
    ProductImage.objects.create(product=product, image="products/x.jpg", index_state="failed", index_error="old")
    response = merchandiser.post("/admin/catalog/product/", {"action": "reindex_selected",
                                                             "_selected_action": [product.pk]})
    assert response.status_code == 302
    assert ProductImage.objects.get().index_state == "pending" and len(sent) == 1
    assert Job.objects.filter(kind="reindex").count() == 1
    confirm = merchandiser.get("/admin/catalog/product/reindex-all/")
    assert b"Re-index the whole catalog" in confirm.content


def _file(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)
