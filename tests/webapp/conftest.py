"""Real services for the product's tests: a Milvus Lite server, a Celery worker process, test data.

The database and the broker come from the settings (tests/django_settings.py):
SQLite and the filesystem broker by default, PostgreSQL and Redis when
DATABASE_URL / REDIS_URL are set (the scaled pass of `make test`).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from engine.milvus_server import MilvusLiteServer
from workers.app import worker_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def milvus(tmp_path_factory):
    """One Milvus Lite server for the session; web code and workers reach it through MILVUS_URI."""
    from webapp.vectors import catalog_index

    if os.environ.get("MILVUS_URI"):  # a Milvus the caller runs
        yield os.environ["MILVUS_URI"]
        return
    server = MilvusLiteServer(tmp_path_factory.mktemp("milvus") / "data")
    server.start()
    os.environ["MILVUS_URI"] = server.uri
    settings.MILVUS_URI = server.uri
    catalog_index.cache_clear()
    try:
        yield server.uri
    finally:
        catalog_index.cache_clear()
        os.environ.pop("MILVUS_URI", None)
        server.stop()


@pytest.fixture
def index(milvus):
    """The live catalog index, emptied for the test."""
    from webapp.vectors import catalog_index

    catalog_index.cache_clear()
    live = catalog_index()
    live.delete_images(live.image_ids())
    yield live
    catalog_index.cache_clear()


@pytest.fixture
def worker(milvus, transactional_db, tmp_path):
    """A real Celery worker process (queues gpu and default) on the test database."""
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "tests.django_settings",
           "PYTHONPATH": str(ROOT)}
    log_path = tmp_path / "worker.log"
    command = worker_command(name=f"test{os.getpid()}@%h")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        if os.environ.get("STREETSHOP_SHOW_WORKER_LOG"):
            print(log_path.read_text()[-5000:])


def _database_url() -> str:
    from django.db import connection

    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or ""
    auth = f"{user}:{config.get('PASSWORD') or ''}@" if user else ""
    return f"postgres://{auth}{config.get('HOST') or '127.0.0.1'}:{config.get('PORT') or 5432}/{config['NAME']}"


@pytest.fixture(scope="session", autouse=True)
def _end_other_database_sessions(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end sessions a killed worker or server thread left behind."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(scope="session", autouse=True)
def _drop_redis_keys_of_this_run():
    """On the scaled pass, the run's broker and result keys (one prefix per run) are deleted at the end."""
    yield
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        prefix = os.environ["STREETSHOP_REDIS_PREFIX"]
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
