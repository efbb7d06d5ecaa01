"""Load: concurrent shoppers against a running StreetShop, then catalog indexing while they search.

    .venv/bin/python bench/load_test.py [--broker embedded|redis] [--shoppers 20] [--seconds 60]
                                        [--catalog 500] [--index-images 5000] [--index-shoppers 5]

Loopback only, bounded in time and count; CI does not run it. It starts the
real stack with `manage.py serve` (gunicorn, one Celery worker, Milvus Lite on
127.0.0.1) in a private folder (var/loadtest/<broker>/):

- embedded: SQLite and the filesystem broker (what `make run` uses);
- redis: PostgreSQL (database streetshop_load) and Redis (db 14, its own key prefix), as the scaled path.

Phase 1: --shoppers threads upload photos (POST /api/v1/searches) and poll
their results (GET /api/v1/searches/{id}) for --seconds; counts requests,
answers by status (server errors must be 0), and the search latency from the
upload's start to the results' arrival (median, p95).
Phase 2: --index-images new catalog images are imported and queued for
indexing while --index-shoppers threads keep searching; prints the indexing
throughput (images per second until every one is indexed) and the searches'.
"""
from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SOURCE = ROOT / "var" / "loadtest" / "source"
SEED = 5151


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("embedded", "redis"), default="embedded")
    parser.add_argument("--shoppers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--catalog", type=int, default=500, help="catalog images before phase 2")
    parser.add_argument("--index-images", type=int, default=5000, help="images indexed in phase 2 (0: skip it)")
    parser.add_argument("--index-shoppers", type=int, default=5)
    args = parser.parse_args()

    configure_environment(args.broker)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    photos = source_photos(args.catalog + args.index_images)
    import_catalog(photos["shop"][: args.catalog])
    port = free_port()
    server = start_server(port)
    try:
        wait_ready(port, pending_target=0)
        print(f"{args.broker}: {os.cpu_count()} CPUs, catalog {args.catalog} images, server on 127.0.0.1:{port}")
        results = run_shoppers(port, photos["street"], args.shoppers, args.seconds)
        report(f"phase 1: {args.shoppers} shoppers for {args.seconds:.0f} s", results, args.seconds)
        if args.index_images:
            index_while_searching(port, photos, args)
    finally:
        stop_server(server)
        clean_services(args.broker)
    return 0


def clean_services(broker: str) -> None:
    """Leave the shared Redis as found: drop this run's keys (the PostgreSQL database is dropped on the next run)."""
    if broker != "redis":
        return
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter(f"{os.environ['STREETSHOP_REDIS_PREFIX']}*", count=1000):
        client.delete(key)


def configure_environment(broker: str) -> None:
    var = ROOT / "var" / "loadtest" / broker
    os.environ["STREETSHOP_VAR_DIR"] = str(var)
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    os.environ["STREETSHOP_UPLOAD_RATE"] = "1000000/minute"  # capacity is measured, not the anonymous throttle
    os.environ.pop("MILVUS_URI", None)
    if broker == "redis":
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS streetshop_load WITH (FORCE)")
            connection.execute("CREATE DATABASE streetshop_load")
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/streetshop_load"
        os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/14"
        os.environ["STREETSHOP_REDIS_PREFIX"] = f"loadtest-{uuid.uuid4().hex[:8]}:"
    else:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        # A fresh embedded database each run: phase 2 counts what it adds.
        (var / "streetshop.sqlite3").unlink(missing_ok=True)
        for folder in ("milvus", "broker"):
            subprocess.run(["rm", "-rf", str(var / folder)], check=True)


def source_photos(items: int) -> dict[str, list[Path]]:
    """Synthetic shop photos (the catalog) and street photos of the same items (the shoppers'), drawn once."""
    from engine.data.synthetic import generate_consumer2shop

    shop = sorted(SOURCE.glob("img/*/*/shop_01.jpg"))
    if len(shop) < items:
        print(f"drawing {items} catalog items (once) ...", flush=True)
        generate_consumer2shop(SOURCE, items, consumer_per_item=1, seed=SEED, workers=2)
        shop = sorted(SOURCE.glob("img/*/*/shop_01.jpg"))
    street = sorted(SOURCE.glob("img/*/*/consumer_01.jpg"))
    return {"shop": shop[:items], "street": street[:items]}


def import_catalog(shop_photos: list[Path]) -> list[int]:
    """Products for these shop photos (one image each), stored as pending; returns the new image ids."""
    from webapp.catalog import imports
    from webapp.catalog.importing import import_rows
    from webapp.catalog.models import ProductImage

    wanted = {p.relative_to(SOURCE).as_posix() for p in shop_photos}
    parsed = imports.parse_deepfashion_shop_list(SOURCE, "consumer2shop")
    parsed.rows = [row for row in parsed.rows if any(name in wanted for name in row.images)]
    existing = set(ProductImage.objects.values_list("id", flat=True))
    import_rows(parsed, imports.collect_folder_images(SOURCE), description="load test catalog")
    return sorted(set(ProductImage.objects.values_list("id", flat=True)) - existing)


def start_server(port: int) -> subprocess.Popen:
    log = open(Path(os.environ["STREETSHOP_VAR_DIR"]) / "serve.log", "ab")
    return subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), "--web-workers", "2"],
                            cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    import signal

    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def wait_ready(port: int, pending_target: int, timeout: float = 900.0) -> None:
    """Until the web answers and the worker has indexed the catalog (``serve`` queues what is pending)."""
    from webapp.catalog.models import IndexState, ProductImage

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = request(port, "GET", "/api/v1/products?page_size=1")
        except OSError:
            status = None
        pending = ProductImage.objects.filter(index_state=IndexState.PENDING).count()
        if status == 200 and pending <= pending_target:
            return
        time.sleep(1.0)
    raise SystemExit(f"the stack did not get ready in {timeout:.0f} s; see {os.environ['STREETSHOP_VAR_DIR']}/log/")


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: collections.Counter = collections.Counter()
        self.latencies: list[float] = []
        self.outcomes: collections.Counter = collections.Counter()
        self.errors: list[str] = []

    def status(self, method: str, code: int) -> None:
        with self.lock:
            self.statuses[(method, code)] += 1


def run_shoppers(port: int, photos: list[Path], shoppers: int, seconds: float, stop: threading.Event | None = None):
    results = Results()
    deadline = time.monotonic() + seconds
    stop = stop or threading.Event()
    threads = [threading.Thread(target=shopper, args=(port, photos, deadline, stop, results, n), daemon=True)
               for n in range(shoppers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def shopper(port: int, photos: list[Path], deadline: float, stop: threading.Event, results: Results, n: int) -> None:
    rng = random.Random(n)
    while time.monotonic() < deadline and not stop.is_set():
        photo = rng.choice(photos)
        started = time.monotonic()
        try:
            status, body = upload(port, photo)
            results.status("POST", status)
            if status != 202:
                continue
            search_id = body["id"]
            while time.monotonic() < started + 180:
                time.sleep(0.25)
                status, body = request(port, "GET", f"/api/v1/searches/{search_id}")
                results.status("GET", status)
                if status == 200 and body.get("status") in ("done", "failed"):
                    with results.lock:
                        results.outcomes[body["status"]] += 1
                        if body["status"] == "done":
                            results.latencies.append((time.monotonic() - started) * 1000)
                    break
            else:
                with results.lock:
                    results.outcomes["timed out"] += 1
        except OSError as error:  # a refused or broken connection is an error of the server too
            with results.lock:
                results.errors.append(f"{type(error).__name__}: {error}")


def upload(port: int, photo: Path):
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{photo.name}\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return request(port, "POST", "/api/v1/searches", body, f"multipart/form-data; boundary={boundary}")


def request(port: int, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data) if data else {}
        except ValueError:
            return response.status, {}
    finally:
        connection.close()


def report(title: str, results: Results, seconds: float) -> None:
    codes = collections.Counter()
    for (method, code), count in results.statuses.items():
        codes[code] += count
    uploads = sum(c for (m, _), c in results.statuses.items() if m == "POST")
    server_errors = sum(c for code, c in codes.items() if code >= 500)
    latencies = sorted(results.latencies)
    print(f"\n{title}")
    print(f"  requests {sum(codes.values())} (uploads {uploads}), answers by status {dict(sorted(codes.items()))}")
    print(f"  server errors (5xx) {server_errors}, connection errors {len(results.errors)}")
    print(f"  searches: {dict(results.outcomes)}, {len(latencies) / seconds:.2f} completed per second")
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
        print(f"  search latency (upload start -> results): median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms")
    for error in results.errors[:5]:
        print(f"  e.g. {error}")


def index_while_searching(port: int, photos: dict[str, list[Path]], args) -> None:
    from webapp.catalog.models import IndexState, ProductImage
    from webapp.catalog.services import enqueue_indexing

    new_ids = import_catalog(photos["shop"][args.catalog : args.catalog + args.index_images])
    stop = threading.Event()
    holder = {}
    searching = threading.Thread(
        target=lambda: holder.update(results=run_shoppers(port, photos["street"], args.index_shoppers, 10**9, stop)),
        daemon=True,
    )
    started = time.monotonic()
    searching.start()
    enqueue_indexing(new_ids)
    while True:
        left = ProductImage.objects.filter(id__in=new_ids, index_state=IndexState.PENDING).count()
        if left == 0 or time.monotonic() - started > 3600:
            break
        time.sleep(2.0)
    elapsed = time.monotonic() - started
    stop.set()
    searching.join()
    indexed = ProductImage.objects.filter(id__in=new_ids, index_state=IndexState.INDEXED).count()
    failed = ProductImage.objects.filter(id__in=new_ids, index_state=IndexState.FAILED).count()
    print(f"\nphase 2: {len(new_ids)} new catalog images indexed while {args.index_shoppers} shoppers searched")
    print(f"  indexed {indexed}, failed {failed}, still pending {len(new_ids) - indexed - failed}, "
          f"in {elapsed:.0f} s: {indexed / elapsed:.1f} images/s")
    report("  searches during the indexing", holder["results"], elapsed)


def free_port() -> int:
    from engine.milvus_server import free_port as pick

    return pick("127.0.0.1")


if __name__ == "__main__":
    raise SystemExit(main())
