"""End-to-end search latency on a 10,000-image catalog, against the engine alone on the same photos.

    .venv/bin/python bench/search_latency.py [--catalog 10000] [--searches 40]

Runs the embedded defaults in a private folder (var/bench/: SQLite, filesystem
broker, a Milvus Lite server on 127.0.0.1, one real Celery worker process).
The catalog is built once (synthetic shop images, indexed with the catalog
pipeline) and reused by later runs. Each search is uploaded through the API;
its latency runs from the moment the upload request starts to the moment the
worker stored the results (the row's finish time in the database). The engine alone is timed on the same photo
in this process right before each search (median of several runs), and the
overhead of web + queue + Milvus is (end-to-end median - engine median) /
engine median. Both are printed with where the time goes (upload request,
queue wait, worker task, engine inside the worker).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"
os.environ.setdefault("STREETSHOP_VAR_DIR", str(VAR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ.setdefault("STREETSHOP_UPLOAD_RATE", "100000/minute")  # one client uploads all the searches
sys.path.insert(0, str(ROOT))
SEED = 777


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=int, default=10_000, help="catalog images (one per product)")
    parser.add_argument("--searches", type=int, default=40)
    parser.add_argument("--engine-repeats", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from engine.milvus_server import MilvusLiteServer

    call_command("migrate", verbosity=0)
    with MilvusLiteServer(settings.MILVUS_DATA_DIR, port=_free_port()) as milvus:
        os.environ["MILVUS_URI"] = settings.MILVUS_URI = milvus.uri
        build_catalog(args.catalog)
        photos = query_photos(args.searches)
        worker = start_worker()
        try:
            end_to_end, engine = run_searches(photos, args.engine_repeats)
        finally:
            worker.terminate()
            worker.wait(30)
    report(args, end_to_end, engine)
    return 0


def build_catalog(size: int) -> None:
    """Synthetic shop images of ``size`` items, imported and indexed (skipped when already there)."""
    from engine.data.synthetic import generate_consumer2shop
    from webapp.catalog import imports
    from webapp.catalog.importing import import_rows
    from engine.batches import batches
    from webapp.catalog.indexing import index_images, pending_image_ids
    from webapp.catalog.models import ProductImage
    from webapp.vectors import catalog_index
    from workers.runtime import pipeline

    if ProductImage.objects.count() < size:
        source = VAR / "catalog_source"
        if not (source / "Eval" / "list_eval_partition.txt").exists():
            print(f"drawing {size} catalog items (once) ...", flush=True)
            generate_consumer2shop(source, size, consumer_per_item=1, seed=SEED, workers=2)
        parsed = imports.parse_deepfashion_shop_list(source, "consumer2shop")
        for row in parsed.rows:
            row.price = 10 + int(row.sku[-4:]) % 150
        import_rows(parsed, imports.collect_folder_images(source), description="bench catalog")
    pending = pending_image_ids()
    if pending:
        print(f"indexing {len(pending)} images ...", flush=True)
        started = time.perf_counter()
        for batch in batches(pending, 64):
            index_images(batch, pipeline("catalog"))
        print(f"  {len(pending) / (time.perf_counter() - started):.1f} images/s", flush=True)
    index = catalog_index()
    # Milvus Lite may still be indexing a bulk load in the background; measured searches must not wait on it.
    index.reload_live()
    print(f"catalog: {ProductImage.objects.count()} images, {index.count()} vectors", flush=True)


def query_photos(count: int) -> list[Path]:
    photos = sorted((VAR / "catalog_source").glob("img/*/*/consumer_01.jpg"))
    step = max(len(photos) // count, 1)
    return photos[::step][:count]


def start_worker() -> subprocess.Popen:
    from workers.app import worker_command

    log = open(VAR / "worker.log", "ab")
    return subprocess.Popen(worker_command(loglevel="WARNING"), cwd=ROOT, env=os.environ.copy(), stdout=log,
                            stderr=subprocess.STDOUT)


def run_searches(photos: list[Path], engine_repeats: int) -> tuple[list[float], list[float]]:
    """Upload each photo through the API, one at a time; latency from the database's timestamps.

    Right before each search, the engine alone runs on the same photo in this process (the
    worker idle), so both figures see the same state of a shared, noisy machine.
    """
    from django.utils import timezone
    from rest_framework.test import APIClient

    from webapp.search.models import Search
    from workers.runtime import pipeline

    client = APIClient()
    warm = _upload(client, photos[0])  # the worker loads its models on the first task
    engine = pipeline("query")
    engine.run(photos[0].read_bytes())
    _wait(warm)
    latencies, engine_times = [], []
    parts = {"upload request": [], "queue wait": [], "worker task": [], "engine in worker": []}
    for photo in photos:
        engine_times.append(time_engine(engine, photo, engine_repeats))
        received = timezone.now()  # the request starts here: its checks and storing count too
        search_id = _upload(client, photo)
        answered = timezone.now()
        search = _wait(search_id)
        if search.status != "done":
            raise SystemExit(f"search failed: {search.error}")
        latencies.append(_ms(search.finished - received))
        parts["upload request"].append(_ms(answered - received))
        parts["queue wait"].append(_ms(search.started - search.created))
        parts["worker task"].append(_ms(search.finished - search.started))
        parts["engine in worker"].append(sum(search.timings_ms.values()))
    Search.objects.all().delete()
    print("where the time goes (medians): " + ", ".join(f"{k} {statistics.median(v):.1f} ms" for k, v in parts.items()))
    return latencies, engine_times


def _ms(delta) -> float:
    return delta.total_seconds() * 1000


def time_engine(engine, photo: Path, repeats: int) -> float:
    """The query pipeline alone on one photo (file read and decode included): median of ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        engine.run(photo.read_bytes())
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def report(args, end_to_end: list[float], engine: list[float]) -> None:
    e2e_median, engine_median = statistics.median(end_to_end), statistics.median(engine)
    print(f"\ncatalog {args.catalog} images, {len(end_to_end)} searches, embedded defaults, {os.cpu_count()} CPUs")
    print(f"end to end (upload received -> results stored): median {e2e_median:.1f} ms, "
          f"p95 {_percentile(end_to_end, 95):.1f} ms")
    print(f"engine alone, same photos:                       median {engine_median:.1f} ms, "
          f"p95 {_percentile(engine, 95):.1f} ms")
    print(f"overhead of web + queue + Milvus: {(e2e_median - engine_median) / engine_median * 100:.1f}% "
          f"of the engine's time (aim: at most 30%)")


def _upload(client, photo: Path):
    with open(photo, "rb") as handle:
        response = client.post("/api/v1/searches", {"image": handle}, format="multipart")
    if response.status_code != 202:
        raise SystemExit(f"upload refused: {response.status_code} {response.content[:300]!r}")
    return response.json()["id"]


def _wait(search_id, timeout: float = 120.0):
    from webapp.search.models import Search

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        search = Search.objects.get(pk=search_id)
        if search.status in ("done", "failed"):
            return search
        time.sleep(0.1)  # the latency comes from database timestamps; polling rarely leaves the CPUs to the worker
    raise SystemExit(f"search {search_id} did not finish in {timeout:.0f} s; see {VAR / 'worker.log'}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _free_port() -> int:
    from engine.milvus_server import free_port

    return free_port("127.0.0.1")


if __name__ == "__main__":
    raise SystemExit(main())
