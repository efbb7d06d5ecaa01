"""``python manage.py serve``: StreetShop with its embedded defaults, in one command.

Starts the Milvus Lite server (127.0.0.1 only) unless MILVUS_URI names another
Milvus, one Celery worker (queues gpu and default, with the periodic clean-up),
and the web server; queues any catalog image still waiting to be indexed;
prints the URL; stops everything on Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand

from engine.milvus_server import MilvusLiteServer
from workers.app import worker_command


class Command(BaseCommand):
    help = "Run StreetShop (Milvus Lite, a worker and the web server) on this machine."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--no-worker", action="store_true", help="do not start a Celery worker")

    def handle(self, *args, **options):
        logs = settings.VAR_DIR / "log"
        logs.mkdir(parents=True, exist_ok=True)
        children: list[subprocess.Popen] = []
        milvus = self._start_milvus(logs)
        try:
            if not options["no_worker"]:
                beat_schedule = settings.VAR_DIR / "celerybeat-schedule"
                children.append(_spawn(worker_command(beat_schedule=beat_schedule), logs / "worker.log"))
            children.append(_spawn(web_command(options["host"], options["port"], options["web_workers"]),
                                   logs / "web.log"))
            self._queue_pending()
            url = f"http://{options['host']}:{options['port']}/"
            self.stdout.write(self.style.SUCCESS(f"StreetShop is running at {url}"))
            self.stdout.write(f"  admin: {url}admin/   API docs: {url}api/docs/   logs: {logs}")
            self.stdout.write("  press Ctrl-C to stop")
            _wait(children)
        finally:
            _stop(children)
            if milvus is not None:
                milvus.stop()

    def _start_milvus(self, logs: Path) -> MilvusLiteServer | None:
        if os.environ.get("MILVUS_URI"):
            return None  # a Milvus the deployment runs itself
        port = urlparse(settings.MILVUS_URI).port or 19530
        server = MilvusLiteServer(settings.MILVUS_DATA_DIR, port=port, log_path=logs / "milvus.log")
        server.start()
        self.stdout.write(f"Milvus Lite serving {settings.MILVUS_DATA_DIR} on {server.uri}")
        return server

    def _queue_pending(self) -> None:
        from webapp.catalog.indexing import pending_image_ids
        from webapp.catalog.services import enqueue_indexing

        pending = pending_image_ids()
        if pending:
            enqueue_indexing(pending)
            self.stdout.write(f"queued {len(pending)} catalog images for indexing")


def web_command(host: str, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "webapp.wsgi", "--bind", f"{host}:{port}", "--workers", str(workers),
            "--threads", "4", "--timeout", "60", "--access-logfile", "-"]


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
                            start_new_session=True)


def _wait(children: list[subprocess.Popen]) -> None:
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        while not stop["now"]:
            for child in children:
                if child.poll() is not None:
                    raise SystemExit(f"{child.args[2:5]} exited with code {child.returncode}; see var/log/")
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.time() + 15
    for child in children:
        try:
            child.wait(max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
