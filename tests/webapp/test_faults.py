"""Faults while the site runs: a worker killed mid-task, the vector index stopped and restarted, the broker away.

Real parts throughout: Celery worker processes (each in its own process group, so
SIGKILL takes the whole worker, pool children included), Milvus Lite servers, and
the database and broker of the settings (SQLite + filesystem, or PostgreSQL +
Redis on the scaled pass). A task is made slow at a chosen step with the test
hook of workers.runtime (STREETSHOP_TEST_PAUSE: first delivery only), so the kill
always lands mid-task. Leases and retry backoff are made short through the
settings of workers.policy (environment variables the workers inherit).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from engine.milvus_server import MilvusLiteServer, free_port
from tests.webapp.catalog_data import import_synthetic_catalog
from tests.webapp.conftest import ROOT, _database_url
from tests.webapp.waiting import wait_until
from webapp.catalog.indexing import start_job
from webapp.catalog.models import IndexState, JobKind, Product, ProductImage
from webapp.catalog.services import enqueue_indexing
from webapp.search import services as searches
from webapp.search.models import Search, SearchGarment
from workers.app import app, worker_command

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# Short leases and backoff for the workers and this process (workers.policy reads them at call time).
FAST = {
    "STREETSHOP_RUN_LEASE_S": "3",  # a killed worker's work is free again 3 s after its last heartbeat
    "STREETSHOP_TASK_BACKOFF_S": "0.5",
    "STREETSHOP_TASK_BACKOFF_MAX_S": "2",
    "STREETSHOP_SEARCH_RETRIES": "1",
}
PAUSE_S = 120  # longer than any test waits: the first delivery never finishes by itself


@pytest.fixture(autouse=True)
def _fast_policy_and_an_empty_broker(monkeypatch):
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    app.control.purge()  # messages an earlier test's killed worker left in the queues
    yield
    app.control.purge()


class Worker:
    """A Celery worker process of this app, in its own process group."""

    def __init__(self, log_path: Path, pause: str = "", **env: str) -> None:
        env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "tests.django_settings",
               "PYTHONPATH": str(ROOT), "STREETSHOP_TEST_PAUSE": pause, **env}
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(worker_command(name=f"fault{uuid.uuid4().hex[:8]}@%h"), cwd=ROOT,
                                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def pool_children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool children, no chance to requeue anything."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """At the end of a test: nothing to finish (the queues are purged), so no warm shutdown to wait for."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        if os.environ.get("STREETSHOP_SHOW_WORKER_LOG"):
            print(self.log())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@pytest.fixture
def start_worker(milvus, tmp_path):
    started: list[Worker] = []

    def start(pause: str = "", **env: str) -> Worker:
        worker = Worker(tmp_path / f"worker{len(started)}.log", pause, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def shopper() -> APIClient:
    # One address per client: the upload throttle counts per address, across the whole test run.
    return APIClient(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")


def post_search(client: APIClient, photo: Path):
    with open(photo, "rb") as handle:
        return client.post("/api/v1/searches", {"image": handle}, format="multipart")


def submit_search(client: APIClient, photo: Path) -> str:
    response = post_search(client, photo)
    assert response.status_code == 202, response.content
    return response.json()["id"]


def finished(client: APIClient, search_id: str, timeout: float, worker: Worker | None = None) -> dict:
    url = f"/api/v1/searches/{search_id}"
    try:
        return wait_until(lambda: (d := client.get(url).json())["status"] in ("done", "failed") and d, timeout,
                          f"search {search_id} to finish")
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- worker log ---\n{worker.log() if worker else ''}") from None


def index_everything(image_ids: list[int], worker: Worker, timeout: float = 90) -> None:
    enqueue_indexing(image_ids)
    try:
        wait_until(lambda: not ProductImage.objects.filter(pk__in=image_ids, index_state=IndexState.PENDING).exists(),
                   timeout, "the worker to index the catalog")
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- worker log ---\n{worker.log()}") from None


def retrying(call, timeout: float = 30):
    """A read of the index right after a restart (milvus-lite once failed a load right after a flush)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# --------------------------------------------------------------------------- a worker killed mid-task


@pytest.mark.slow
def test_a_search_whose_whole_worker_is_killed_completes_on_a_new_worker(tiny_c2s, index, start_worker):
    image_ids, streets = import_synthetic_catalog(tiny_c2s)
    first = start_worker(pause=f"run_search:claimed={PAUSE_S}")
    index_everything(image_ids, first)
    client = shopper()
    search_id = submit_search(client, streets[sorted(streets)[0]][0])
    wait_until(lambda: Search.objects.filter(pk=search_id, status="running", attempts=1).exists(), 60,
               "the worker to start the search")

    first.kill()
    started = time.monotonic()
    second = start_worker()  # its start runs the recovery: the search's lease ran out with its worker

    search = finished(client, search_id, 90, second)
    assert search["status"] == "done", search["error"]
    assert search["garments"] and any(g["results"] for g in search["garments"]), search
    assert Search.objects.count() == 1
    assert Search.objects.get(pk=search_id).attempts == 0
    positions = list(SearchGarment.objects.filter(search_id=search_id).values_list("position", flat=True))
    assert len(positions) == len(set(positions)) == len(search["garments"])
    print(f"search recovered {time.monotonic() - started:.1f} s after the kill")


@pytest.mark.slow
def test_an_indexing_batch_whose_whole_worker_is_killed_is_indexed_once(tiny_c2s, index, start_worker):
    image_ids, _ = import_synthetic_catalog(tiny_c2s)
    job = start_job(JobKind.REINDEX, len(image_ids), "index the test catalog")
    # The kill lands after the vectors reached Milvus and before the database recorded them.
    first = start_worker(pause=f"index_images:upserted={PAUSE_S}")
    enqueue_indexing(image_ids, job)
    wait_until(lambda: index.count() == len(image_ids), 90, "the worker to upsert the batch's vectors")
    assert ProductImage.objects.filter(index_state=IndexState.PENDING).count() == len(image_ids)

    first.kill()
    started = time.monotonic()
    second = start_worker()
    try:
        wait_until(lambda: not ProductImage.objects.filter(index_state=IndexState.PENDING).exists(), 90,
                   "the new worker to index the batch again")
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- worker log ---\n{second.log()}") from None

    states = set(ProductImage.objects.values_list("index_state", "index_attempts"))
    assert states == {(IndexState.INDEXED, 0)}, states
    assert retrying(index.image_ids) == sorted(image_ids)  # one vector per image, by primary key
    assert retrying(index.count) == len(image_ids)
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", len(image_ids), 0), job.message
    print(f"batch recovered {time.monotonic() - started:.1f} s after the kill")


@pytest.mark.slow
def test_a_pool_child_killed_mid_search_is_redelivered_by_its_worker(tiny_c2s, index, start_worker):
    _, streets = import_synthetic_catalog(tiny_c2s)
    # A long lease: the search must come back through the broker (the rejected message), not the recovery.
    worker = start_worker(pause=f"run_search:claimed={PAUSE_S}", STREETSHOP_RUN_LEASE_S="600")
    client = shopper()
    search_id = submit_search(client, streets[sorted(streets)[0]][0])
    wait_until(lambda: Search.objects.filter(pk=search_id, status="running", attempts=1).exists(), 60,
               "the worker to start the search")
    children = worker.pool_children()
    assert len(children) == 1, children

    os.kill(children[0], signal.SIGKILL)  # WorkerLostError: acks_late + task_reject_on_worker_lost requeue it

    search = finished(client, search_id, 60, worker)
    assert search["status"] == "done", search["error"]
    assert worker.process.poll() is None and worker.pool_children() != children  # same worker, new child
    log = worker.log()
    assert "WorkerLostError" in log, log
    received = [line for line in log.splitlines() if "run_search[" in line and line.endswith("received")]
    assert len(received) == 2 and received[0] == received[1], received  # the same message, delivered again
    assert "queued again 1 searches" not in log
    assert Search.objects.get(pk=search_id).attempts == 0


# --------------------------------------------------------------------------- the vector index away


@pytest.mark.slow
def test_milvus_stopped_and_restarted_searches_fail_clearly_then_work_and_indexing_completes(
    tiny_c2s, milvus, start_worker, tmp_path, monkeypatch
):
    """Implemented behaviour: a search during the outage retries briefly (STREETSHOP_SEARCH_RETRIES), then
    ends 'failed' with "Search is unavailable right now, please try again"; an indexing batch retries with
    backoff and completes once the server is back. Nothing is restarted but the Milvus server."""
    from webapp.vectors import catalog_index

    server = MilvusLiteServer(tmp_path / "milvus" / "data")
    server.start()
    monkeypatch.setenv("MILVUS_URI", server.uri)
    monkeypatch.setattr(settings, "MILVUS_URI", server.uri)
    catalog_index.cache_clear()
    try:
        index = catalog_index()
        image_ids, streets = import_synthetic_catalog(tiny_c2s)
        later, image_ids = image_ids[-1], image_ids[:-1]
        worker = start_worker()
        index_everything(image_ids, worker)
        client = shopper()
        photos = [streets[sku][0] for sku in sorted(streets)]
        assert finished(client, submit_search(client, photos[0]), 60, worker)["status"] == "done"
        before = retrying(index.image_ids)
        assert before == sorted(image_ids)

        server.stop()
        outage = time.monotonic()
        during = finished(client, submit_search(client, photos[1]), 60, worker)
        assert during["status"] == "failed", during
        assert "unavailable" in during["error"].lower() and "try again" in during["error"].lower(), during["error"]
        print(f"search failed {time.monotonic() - outage:.1f} s into the outage: {during['error']}")

        enqueue_indexing([later])  # its batch meets the outage and retries with backoff
        wait_until(lambda: "index_images" in worker.log() and "retry" in worker.log().lower(), 30,
                   "the indexing task to retry")
        server.start()  # same port, same data
        restarted = time.monotonic()

        wait_until(lambda: ProductImage.objects.get(pk=later).index_state != IndexState.PENDING, 60,
                   "the batch queued during the outage to complete")
        assert ProductImage.objects.get(pk=later).index_state == IndexState.INDEXED
        after = retrying(index.image_ids)
        assert set(before) <= set(after), "a vector acknowledged before the stop was lost"
        assert after == sorted([*before, later]) and retrying(index.count) == len(before) + 1
        print(f"indexing completed {time.monotonic() - restarted:.1f} s after the restart")

        again = finished(client, submit_search(client, photos[2]), 60, worker)  # same worker, no restart
        assert again["status"] == "done", again["error"]
        assert any(g["results"] for g in again["garments"]), again
    finally:
        catalog_index.cache_clear()
        server.stop()


# --------------------------------------------------------------------------- the broker away


@contextlib.contextmanager
def broker_unreachable():
    """Point this process's Celery app at a broker that cannot take a message, as its settings would.

    Redis (the scaled path): a closed port. Filesystem broker: a queue folder that cannot be written
    (a path under a regular file: permissions would not stop root).
    """
    conf = app.conf
    saved = {"broker_url": conf.broker_url, "broker_transport_options": dict(conf.broker_transport_options or {})}
    if settings.REDIS_URL:
        conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    else:
        conf.broker_transport_options = {**saved["broker_transport_options"], "data_folder_out": "/dev/null/queue"}
    _forget_broker_connections()
    try:
        yield
    finally:
        conf.broker_url = saved["broker_url"]
        conf.broker_transport_options = saved["broker_transport_options"]
        _forget_broker_connections()


def _forget_broker_connections() -> None:
    app.amqp._producer_pool = None
    app._pool = None


def test_an_upload_answers_503_at_once_when_the_broker_is_unreachable(tiny_c2s, django_user_model):
    from workers import recovery

    _, streets = import_synthetic_catalog(tiny_c2s)
    photo = streets[sorted(streets)[0]][0]
    product = Product.objects.first()
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_user("merch", is_staff=True))
    with broker_unreachable():
        started = time.monotonic()
        response = post_search(shopper(), photo)
        took = time.monotonic() - started
        with open(photo, "rb") as handle:  # a catalog image: kept, pending, queued later by the recovery
            added = staff.post(f"/api/v1/products/{product.pk}/images", {"image": handle}, format="multipart")

    assert response.status_code == 503, response.content
    assert took < 8, f"the upload took {took:.1f} s"
    body = response.json()
    assert body["error"] == searches.QUEUE_DOWN and "not reachable" in body["error"] and "try again" in body["error"]
    assert Search.objects.get(pk=body["id"]).status == "failed"
    assert not Search.objects.filter(status__in=["queued", "running"]).exists()
    print(f"503 after {took:.2f} s")

    assert added.status_code == 202, added.content
    image = ProductImage.objects.get(pk=added.json()["id"])
    assert image.index_state == IndexState.PENDING and image.index_lease_until is None
    # The broker is back: the recovery (worker start, beat) queues the image the web could not.
    assert recovery.recover()["images"] >= 1
    image.refresh_from_db()
    assert image.index_lease_until is not None


def test_recovery_leaves_work_with_a_live_lease_alone(tiny_c2s):
    """Only lost work is queued again: a fresh lease means a task has it."""
    from workers import recovery

    image_ids, _ = import_synthetic_catalog(tiny_c2s)
    enqueue_indexing(image_ids)  # leased for STREETSHOP_QUEUE_LEASE_S
    assert recovery.recover() == {"searches": 0, "images": 0}
    ProductImage.objects.filter(pk__in=image_ids[:3]).update(index_lease_until=None)
    assert recovery.recover() == {"searches": 0, "images": 3}
    assert recovery.recover() == {"searches": 0, "images": 0}


def test_work_that_keeps_killing_its_worker_fails_instead_of_looping(tiny_c2s, monkeypatch):
    """A photo or image whose deliveries died with their worker STREETSHOP_TASK_MAX_ATTEMPTS times is failed."""
    from webapp.catalog import indexing

    monkeypatch.setenv("STREETSHOP_TASK_MAX_ATTEMPTS", "2")
    image_ids, streets = import_synthetic_catalog(tiny_c2s)
    job = start_job(JobKind.REINDEX, 2, "two images that crash the engine")
    ProductImage.objects.filter(pk__in=image_ids[:2]).update(index_attempts=2, index_job=job)
    summary = indexing.index_queued_images(image_ids[:2], pipeline=None)  # never reaches the engine
    assert summary.indexed == [] and summary.failed == {}
    assert set(ProductImage.objects.filter(pk__in=image_ids[:2]).values_list("index_state", flat=True)) == {"failed"}
    assert "stopped its worker" in ProductImage.objects.get(pk=image_ids[0]).index_error
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", 0, 2)

    client = shopper()
    search_id = submit_search(client, streets[sorted(streets)[0]][0])
    Search.objects.filter(pk=search_id).update(attempts=2, status="running")
    searches.run_search(search_id, pipeline=None)
    search = Search.objects.get(pk=search_id)
    assert search.status == "failed" and search.error == searches.STOPPED
