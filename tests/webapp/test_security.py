"""Security settings and protections: headers, HTTPS cookies, DEBUG, the secret key, CSRF, upload throttling."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from webapp.api.views import UploadThrottle

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def settings_under(env: dict[str, str], tmp_path: Path) -> dict:
    """webapp.settings as a fresh process sees it with only ``env`` set (no test overrides)."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({k: getattr(settings, k) for k in ('DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECRET_KEY')}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STREETSHOP_", "DATABASE_URL", "REDIS_URL", "DEBUG", "HTTPS", "SECRET_KEY"))}
    clean.update(DJANGO_SETTINGS_MODULE="webapp.settings", STREETSHOP_VAR_DIR=str(tmp_path), **env)
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def test_defaults_are_safe_and_https_turns_on_secure_cookies_and_hsts(tmp_path):
    plain = settings_under({}, tmp_path)
    assert plain["DEBUG"] is False
    assert not plain["SESSION_COOKIE_SECURE"] and not plain["SECURE_SSL_REDIRECT"]
    https = settings_under({"HTTPS": "1"}, tmp_path)
    assert https["SESSION_COOKIE_SECURE"] and https["CSRF_COOKIE_SECURE"] and https["SECURE_SSL_REDIRECT"]
    assert https["SECURE_HSTS_SECONDS"] >= 31536000
    assert settings_under({"DEBUG": "1"}, tmp_path)["DEBUG"] is True  # only when asked for


def test_the_secret_key_comes_from_the_environment_or_a_private_generated_file(tmp_path):
    assert settings_under({"SECRET_KEY": "from-the-environment"}, tmp_path)["SECRET_KEY"] == "from-the-environment"
    generated = settings_under({}, tmp_path)["SECRET_KEY"]
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == generated and len(generated) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert settings_under({}, tmp_path)["SECRET_KEY"] == generated  # stable across restarts
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [name for name in tracked if name.endswith("secret_key")]


def test_pages_carry_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_admin_forms_need_the_csrf_token(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("merch", password="pw", is_staff=True, is_superuser=True))
    assert client.post("/admin/catalog/product/import/", {}).status_code == 403
    assert client.post("/admin/catalog/category/add/", {"name": "x", "slug": "x"}).status_code == 403


def test_anonymous_uploads_are_throttled(monkeypatch):
    cache.clear()
    monkeypatch.setattr(UploadThrottle, "THROTTLE_RATES", {"uploads": "2/minute"})
    client = APIClient()
    answers = [client.post("/api/v1/searches", {"image": b"not an image"}, format="multipart").status_code
               for _ in range(3)]
    assert answers[:2] == [400, 400]  # refused for the bytes, but counted
    assert answers[2] == 429
    assert client.get("/api/v1/products").status_code == 200  # reading the catalog is not throttled
    cache.clear()


def test_an_unreachable_cache_does_not_turn_uploads_into_server_errors(monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(UploadThrottle, "cache", type("DownCache", (), {"get": down, "set": down})())
    response = APIClient().post("/api/v1/searches", {"image": b"not an image"}, format="multipart")
    assert response.status_code == 400  # judged on its bytes, as if the throttle were not there


def test_shoppers_photos_are_deleted_after_the_retention_period(settings):
    from datetime import timedelta

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from webapp.search.models import Search
    from webapp.search.services import Filters, create_search, purge_old_searches

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(buffer, "JPEG")
    old, recent = (create_search(SimpleUploadedFile("p.jpg", buffer.getvalue()), Filters()) for _ in range(2))
    Search.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(hours=settings.STREETSHOP_SEARCH_RETENTION_HOURS + 1))
    old_photo = Path(old.photo.path)
    assert old_photo.exists()
    assert purge_old_searches() == 1
    assert not old_photo.exists() and not Search.objects.filter(pk=old.pk).exists()
    assert Search.objects.filter(pk=recent.pk).exists() and Path(recent.photo.path).exists()


def test_the_embedded_milvus_server_refuses_to_listen_beyond_this_machine(tmp_path):
    from engine.milvus_server import MilvusLiteServer

    with pytest.raises(ValueError, match="refusing to bind the Milvus Lite server to '0.0.0.0'"):
        MilvusLiteServer(tmp_path, host="0.0.0.0")
    assert MilvusLiteServer(tmp_path).host == "127.0.0.1"
