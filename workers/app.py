"""The Celery app. Model tasks go to queue ``gpu``, light ones to ``default``.

Start a worker with ``celery -A workers.app worker -Q gpu,default``. Models are
loaded lazily inside the process that runs the task (workers.runtime), never in
a forked parent, so the prefork pool is CUDA-safe.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("streetshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ("gpu", "default")],
    task_default_queue="default",
    task_routes={
        "workers.tasks.run_search": {"queue": "gpu", "routing_key": "gpu"},
        "workers.tasks.index_images": {"queue": "gpu", "routing_key": "gpu"},
        "workers.tasks.reindex_catalog": {"queue": "gpu", "routing_key": "gpu"},
    },
    # A task is acknowledged when it has finished, so a killed worker's task is delivered again.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={
        "purge-old-searches": {"task": "workers.tasks.purge_old_searches", "schedule": 3600.0},
    },
)
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)


def worker_command(queues: str = "gpu,default", concurrency: int = 1, loglevel: str = "INFO",
                   beat_schedule: "str | Path | None" = None, name: str | None = None) -> list[str]:
    """The command line of a worker process of this app (`make run`, the tests and the benches start one).

    With ``beat_schedule`` the worker also runs the periodic tasks (one such worker per deployment).
    """
    command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queues, "-c", str(concurrency),
               "--loglevel", loglevel]
    if beat_schedule is not None:
        command += ["-B", "-s", str(beat_schedule)]
    if name is not None:
        command += ["-n", name]
    return command


def ensure_broker_folders() -> None:
    """The filesystem broker needs its folders before the first message."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


ensure_broker_folders()
