"""The Celery app. Model tasks go to queue ``gpu``, light ones to ``default``.

Start a worker with ``celery -A workers.app worker -Q gpu,default``. Models are
loaded lazily inside the process that runs the task (workers.runtime), never in
a forked parent, so the prefork pool is CUDA-safe.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready
from kombu import Exchange, Queue

from workers import broker, policy  # noqa: F401  (broker registers the embedded transport, streetshop-fs://)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

logger = logging.getLogger(__name__)
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
    # A task is acknowledged when it has finished, and a pool child killed mid-task (WorkerLostError)
    # puts its message back, so the task is delivered again. A whole worker killed is covered by the
    # leases in the database and workers.recovery (run below when a worker starts, and on the beat).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # Results and errors live in the database: no result backend round trip (with Redis down, its
    # reconnect loop would hold a shopper's upload for 20 s before failing with a RuntimeError).
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={
        "purge-old-searches": {"task": "workers.tasks.purge_old_searches", "schedule": 3600.0},
        "recover-lost-work": {"task": "workers.tasks.recover_lost_work", "schedule": policy.recovery_interval_s(),
                              "options": {"expires": policy.recovery_interval_s()}},
    },
)
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)


@worker_ready.connect
def recover_when_a_worker_starts(sender=None, **kwargs) -> None:
    """A worker that starts queues again what a killed one left behind: at once (leases that ran out),
    and again once a lease renewed just before the start has run out. A worker restarted right after
    a crash would otherwise leave that work to the beat, a whole recovery interval later."""
    for countdown in (None, policy.run_lease_s() + 1):
        try:
            app.send_task("workers.tasks.recover_lost_work", queue="default", routing_key="default", retry=False,
                          ignore_result=True, countdown=countdown)
        except Exception as error:  # noqa: BLE001 - the beat runs the recovery again later
            logger.warning("could not queue the recovery of lost work: %s", error)
            return


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
