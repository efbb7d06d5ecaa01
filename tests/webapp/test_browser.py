"""The shopper's pages in a real browser (Debian's Chromium driven by Playwright), with a real worker and Milvus."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from webapp.catalog.models import IndexState, Product, ProductImage
from webapp.catalog.services import enqueue_indexing
from tests.webapp.catalog_data import import_synthetic_catalog
from tests.webapp.waiting import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("the browser test needs Debian's Chromium: apt-get install chromium (.ci/run does it)")

    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def test_a_shopper_uploads_a_photo_and_sees_landmarks_and_products(
    tiny_c2s, index, worker, live_server, browser_page, tmp_path
):
    image_ids, streets = import_synthetic_catalog(tiny_c2s)
    enqueue_indexing(image_ids)
    wait_until(lambda: not ProductImage.objects.filter(index_state=IndexState.PENDING).exists(), 240,
               "the worker to index the catalog")
    page = browser_page
    photo = streets[sorted(streets)[2]][0]

    page.goto(live_server.url + "/")
    page.set_input_files("input#photo-input", str(photo))
    page.click("button#search-button")
    page.wait_for_url("**/search/**", timeout=30_000)
    page.wait_for_selector('#search-status[data-status="done"]', timeout=120_000)

    assert page.locator("svg#overlay g.garment rect.garment-box").count() >= 1
    assert page.locator("svg#overlay circle.landmark").count() >= 3
    cards = page.locator(".results .product-card")
    assert cards.count() >= 1
    shot = tmp_path / "results.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("STREETSHOP_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["STREETSHOP_SCREENSHOTS"]) / "results.png")

    # A price filter re-ranks in place: no reload, no new search.
    url = page.url
    top_price = min(float(p.price) for p in Product.objects.all())
    page.fill("#filter-max-price", str(top_price))
    page.click("#filter-apply")
    wait_until(lambda: page.locator(".results .product-card").count() <= 1, 20, "the filtered results")
    assert page.url.split("?")[0] == url.split("?")[0]

    # The product page shows the catalog image's landmarks and similar products.
    product = Product.objects.filter(garment_type="upper", images__index_state=IndexState.INDEXED).first()
    page.goto(f"{live_server.url}/products/{product.pk}/")
    page.wait_for_selector("#similar-list .product-card", timeout=30_000)
    assert page.locator("svg.overlay circle.landmark").count() >= 3
    if os.environ.get("STREETSHOP_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["STREETSHOP_SCREENSHOTS"]) / "product.png"), full_page=True)
