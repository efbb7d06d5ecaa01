"""Hostile and broken photos POSTed to the search API: a 400 that says what is wrong, and nothing stored or queued."""
from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from tests.engine.test_hostile_images import jpeg_with_segment, photo, png_chunk, png_header, save, zip_bytes
from webapp.api.views import SearchViewSet
from webapp.search.models import Search

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ACCEPTED = "JPEG, PNG or WebP"


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that announces width x height pixels in a few hundred bytes."""
    return png_header(width, height) + png_chunk(b"IDAT", zlib.compress(bytes(1000))) + png_chunk(b"IEND", b"")


HOSTILE = {
    "empty": (b"", "photo.jpg", "the file is empty"),
    "truncated jpeg": (save(photo((64, 48)), "JPEG")[:-300], "photo.jpg", "not a readable image"),
    "text named .jpg": (b"this is a shopping list, not a photo\n", "photo.jpg", "a text file, not a JPEG, PNG or WebP"),
    "png bomb": (header_only_png(50_000, 50_000), "bomb.png", "too many pixels"),
    "png over the pixel cap": (header_only_png(8000, 8000), "big.png", "8000x8000 pixels is more than the 40,000,000"),
    "html": (b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", "photo.jpg", "an HTML page"),
    "svg": (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><rect/></svg>", "photo.svg", "an SVG drawing"),
    "pdf": (b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n", "photo.jpg", "a PDF document"),
    "gif": (save(photo(), "GIF"), "photo.gif", "a GIF image"),
    "polyglot jpeg+html": (jpeg_with_segment(b"\xff\xfe", b"<script>alert(1)</script>"), "photo.jpg", "polyglot"),
    "polyglot png+zip": (save(photo(), "PNG") + zip_bytes(), "photo.png", "also holds a zip archive"),
}


@pytest.fixture
def client(monkeypatch, settings, tmp_path):
    """An anonymous client; no upload throttling, a private media folder, enqueue recorded not sent."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setattr(SearchViewSet, "get_throttles", lambda self: [])
    queued = []
    monkeypatch.setattr("webapp.search.services.enqueue", lambda search: queued.append(search.id) or True)
    api = APIClient()
    api.queued = queued
    api.media = Path(settings.MEDIA_ROOT)
    return api


def post(client, data: bytes, name: str, content_type: str = "image/jpeg"):
    return client.post("/api/v1/searches", {"image": SimpleUploadedFile(name, data, content_type=content_type)},
                       format="multipart")


def stored_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files]


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_photos_get_a_400_naming_the_problem_and_nothing_is_stored_or_queued(client, case):
    data, name, problem = HOSTILE[case]
    response = post(client, data, name)
    assert response.status_code == 400, response.content
    message = response.json()["error"]
    assert problem in message, message
    assert ACCEPTED in message or "allowed" in message, message
    assert not Search.objects.exists()
    assert client.queued == []
    assert stored_files(client.media) == []


def test_a_file_over_the_upload_cap_is_refused_from_its_size(client, settings):
    settings.STREETSHOP_MAX_UPLOAD_BYTES = 100 * 1024
    data = save(Image.effect_noise((400, 400), 100).convert("RGB"), "PNG")
    assert len(data) > 100 * 1024
    response = post(client, data, "noise.png", "image/png")
    assert response.status_code == 400
    message = response.json()["error"]
    assert "more than the 100 KB allowed" in message and "smaller JPEG, PNG or WebP" in message, message
    assert not Search.objects.exists() and client.queued == [] and stored_files(client.media) == []


def test_the_content_type_and_name_the_client_sends_do_not_matter(client):
    """A PNG sent as photo.jpg with image/jpeg is stored as .png; an HTML page sent as image/png is refused."""
    image = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    response = post(client, save(image, "PNG"), "photo.jpg", "image/jpeg")
    assert response.status_code == 202, response.content
    search = Search.objects.get()
    assert search.photo.name.endswith(".png") and (search.width, search.height) == (40, 30)
    assert client.queued == [search.id]
    refused = post(client, HOSTILE["html"][0], "photo.png", "image/png")
    assert refused.status_code == 400 and Search.objects.count() == 1 and client.queued == [search.id]


@pytest.mark.parametrize("kind,options", [("JPEG", {}), ("WEBP", {"lossless": True}), ("MPO", {"save_all": True})])
def test_odd_but_valid_photos_are_accepted(client, kind, options):
    image = Image.new("CMYK" if kind == "JPEG" else "RGB", (32, 24), (0, 255, 255, 0) if kind == "JPEG" else "red")
    if kind == "MPO":
        options["append_images"] = [Image.new("RGB", (32, 24), "blue")]
    response = post(client, save(image, kind, **options), "photo")
    assert response.status_code == 202, response.content
    search = Search.objects.get()
    assert (search.width, search.height) == (32, 24) and client.queued == [search.id]
    assert Image.open(io.BytesIO(search.photo.read())).size == (32, 24)
