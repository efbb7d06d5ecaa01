"""`check_index` finds where Milvus and the database disagree (missing, extra, stale vectors) and `--repair`
makes them agree again, idempotently: on the Milvus Lite server and the database of the settings."""
from __future__ import annotations

import io
import json
from decimal import Decimal

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image

from webapp.catalog import services
from webapp.catalog.index_check import check_index, repair
from webapp.catalog.models import Category, IndexState, Product, ProductImage
from webapp.vectors import IndexRow, index_row

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def jpeg_upload(name: str):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 40, 40)).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def catalog(index):
    """Four indexed products (one image each, known embeddings, embedded by the live extractor), one inactive."""
    dresses = Category.objects.create(name="Dresses", slug="dresses", garment_type="full")
    tops = Category.objects.create(name="Tops", slug="tops", garment_type="upper")
    live_key = f"{index.extractor_name}@{index.extractor_version}"
    rng = np.random.default_rng(7)
    images, rows = {}, []
    for sku, category, garment_type, active in [
        ("D1", dresses, "full", True), ("D2", dresses, "full", True), ("T1", tops, "upper", True),
        ("D3", dresses, "full", False),
    ]:
        product = Product.objects.create(sku=sku, title=f"Item {sku}", price=Decimal("10.00"), category=category,
                                         garment_type=garment_type, active=active)
        vector = rng.normal(size=index.dim).astype(np.float32)
        vector /= np.linalg.norm(vector)
        image = ProductImage(product=product, index_state=IndexState.INDEXED, width=64, height=96,
                             extractor_key=live_key, indexed_with={"extractor": live_key})
        image.image.save(f"{sku}.jpg", jpeg_upload(f"{sku}.jpg"), save=False)
        image.embedding = vector.tobytes()
        image.save()
        rows.append(IndexRow(image.pk, product.pk, garment_type, category.slug, active, vector))
        images[sku] = image
    index.upsert(rows)
    return images


def damage(catalog, index) -> dict[str, int]:
    """One missing vector, one extra, two stale ones (edits that bypass the signals)."""
    missing = catalog["D1"].pk
    index.delete_images([missing])
    extra = ProductImage.objects.order_by("-pk").first().pk + 10_000
    index.upsert([IndexRow(extra, catalog["D2"].product_id, "full", "dresses", True, catalog["D2"].vector)])
    Product.objects.filter(pk=catalog["D2"].product_id).update(category=Category.objects.get(slug="tops"))
    Product.objects.filter(pk=catalog["T1"].product_id).update(active=False)
    return {"missing": missing, "extra": extra, "category": catalog["D2"].pk, "active": catalog["T1"].pk}


def index_matches_database(index) -> None:
    stored = {row["image_id"]: row for row in index.rows()}
    images = ProductImage.objects.select_related("product", "product__category").filter(index_state=IndexState.INDEXED)
    assert set(stored) == {image.pk for image in images}
    for image in images:
        expected = index_row(image)
        row = stored[image.pk]
        assert (row["product_id"], row["garment_type"], row["category"], row["active"]) == (
            expected.product_id, expected.garment_type, expected.category, expected.active)


def test_check_reports_exactly_the_damage_and_repair_fixes_it_once(catalog, index):
    assert check_index(index).clean
    hurt = damage(catalog, index)

    report = check_index(index)
    assert report.missing == [hurt["missing"]]
    assert report.extra == [hurt["extra"]]
    assert report.stale == {hurt["category"]: ["category"], hurt["active"]: ["active"]}
    assert report.pending == [] and report.problems == 4 and not report.clean
    assert (report.images, report.indexed, report.vectors) == (4, 4, 4)

    fixed = repair(report, index)
    assert fixed.deleted == [hurt["extra"]]
    assert sorted(fixed.rewritten) == sorted([hurt["missing"], hurt["category"], hurt["active"]])
    assert fixed.queued == fixed.reindexed == fixed.requeued == [] and not fixed.failed

    again = check_index(index)
    assert again.clean and again.vectors == 4, again.to_dict()
    index_matches_database(index)
    # the stored embedding went back unchanged, and the deactivated product left search
    assert np.allclose(index.get_embeddings([hurt["missing"]])[hurt["missing"]], catalog["D1"].vector)
    hits = index.search(catalog["T1"].vector, limit=10)
    assert catalog["T1"].product_id not in {hit.product_id for hit in hits}

    assert repair(again, index).changes == 0
    assert repair(report, index).changes == len(fixed.deleted) + len(fixed.rewritten)  # the old report: same writes
    assert check_index(index).clean
    index_matches_database(index)


def test_vectors_of_another_model_and_images_without_embedding_are_queued_for_indexing(catalog, index, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "enqueue_indexing", lambda ids, job=None: queued.extend(ids))
    old_model = catalog["D2"].pk
    ProductImage.objects.filter(pk=old_model).update(extractor_key=f"{index.extractor_name}@0.0-old")
    lost = catalog["T1"].pk  # indexed, but its embedding and its vector are gone
    ProductImage.objects.filter(pk=lost).update(embedding=None)
    index.delete_images([lost])
    waiting = catalog["D3"].pk
    ProductImage.objects.filter(pk=waiting).update(index_state=IndexState.PENDING)

    report = check_index(index)
    assert report.stale == {old_model: ["extractor"]} and report.missing == [lost] and report.extra == []
    assert report.pending == [waiting]

    fixed = repair(report, index)
    assert fixed.deleted == [old_model]  # another model's vector leaves search until it is indexed again
    assert sorted(fixed.queued) == sorted([old_model, lost]) and fixed.requeued == [waiting]
    assert sorted(queued) == sorted([old_model, lost, waiting])
    assert set(ProductImage.objects.filter(index_state=IndexState.PENDING).values_list("pk", flat=True)) == {
        old_model, lost, waiting}

    again = check_index(index)
    assert again.clean and sorted(again.pending) == sorted([old_model, lost, waiting])
    queued.clear()
    second = repair(again, index, requeue_pending=False)
    assert second.changes == 0 and queued == []


def test_the_command_prints_counts_and_examples_and_exits_1_until_repaired(catalog, index):
    hurt = damage(catalog, index)

    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("check_index", stdout=out)
    assert exit_.value.code == 1
    text = out.getvalue()
    assert f"missing: 1 (image ids {hurt['missing']})" in text
    assert f"extra:   1 (image ids {hurt['extra']})" in text
    assert f"{hurt['category']} (category)" in text and f"{hurt['active']} (active)" in text
    assert "4 problem(s) found" in text

    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("check_index", "--json", "--examples", "1", stdout=out)
    assert exit_.value.code == 1
    data = json.loads(out.getvalue())
    assert data["clean"] is False and data["missing"] == {"count": 1, "examples": [hurt["missing"]]}
    assert data["stale"]["count"] == 2 and len(data["stale"]["examples"]) == 1 and data["extra"]["count"] == 1

    out = io.StringIO()
    call_command("check_index", "--repair", "--json", stdout=out)  # no SystemExit: clean after the repair
    data = json.loads(out.getvalue())
    assert data["repair"]["deleted"] == [hurt["extra"]] and data["repair"]["changes"] == 4
    assert data["after_repair"]["clean"] is True

    out = io.StringIO()
    call_command("check_index", "--repair", stdout=out)
    assert "the vector index matches the database" in out.getvalue() and "repaired:" not in out.getvalue()
    index_matches_database(index)


@pytest.mark.slow
def test_sync_repair_indexes_with_the_models_here(catalog, index):
    old_model = catalog["D2"].pk
    ProductImage.objects.filter(pk=old_model).update(extractor_key=f"{index.extractor_name}@0.0-old")
    waiting = catalog["T1"].pk
    ProductImage.objects.filter(pk=waiting).update(index_state=IndexState.PENDING, embedding=None)
    index.delete_images([waiting])

    out = io.StringIO()
    call_command("check_index", "--repair", "--sync", stdout=out)
    assert "2 indexed again" in out.getvalue() and "0 queued for the workers" in out.getvalue(), out.getvalue()
    live_key = f"{index.extractor_name}@{index.extractor_version}"
    for pk in (old_model, waiting):
        image = ProductImage.objects.get(pk=pk)
        assert image.index_state == IndexState.INDEXED and image.extractor_key == live_key
        assert np.allclose(index.get_embeddings([pk])[pk], image.vector, atol=1e-5)
    report = check_index(index)
    assert report.clean and report.pending == []
    index_matches_database(index)
