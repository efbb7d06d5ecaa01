"""What a worker process keeps between tasks: the engine pipelines, loaded once, on first use.

Loading happens in the process that runs tasks (after the pool forked), never
in the parent, so CUDA is initialised only where it is used. Also here: the
lease heartbeat of a running task (see workers.policy) and the test hook that
pauses a task so a fault-injection test can kill its worker mid-task.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import torch
from django.conf import settings

from engine.pipeline import Pipeline

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def pipeline(purpose: str) -> Pipeline:
    """``"query"`` for shoppers' street photos, ``"catalog"`` for shop images."""
    detector = settings.STREETSHOP_QUERY_DETECTOR if purpose == "query" else settings.STREETSHOP_CATALOG_DETECTOR
    device = settings.STREETSHOP_DEVICE
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return Pipeline.from_config(
        detector=detector, aligner=settings.STREETSHOP_ALIGNER, extractor=settings.STREETSHOP_EXTRACTOR, device=device
    )


@contextlib.contextmanager
def heartbeat(touch: Callable[[], None], every_s: float) -> Iterator[None]:
    """Call ``touch()`` every ``every_s`` seconds while the block runs (renews a task's lease, see
    workers.policy). A killed worker stops beating, so its lease runs out and the recovery takes over."""
    stop = threading.Event()

    def beat() -> None:
        from django.db import connection

        try:
            while not stop.wait(every_s):
                try:
                    touch()
                except Exception as error:  # noqa: BLE001 - a missed beat only shortens the lease
                    log.warning("lease heartbeat failed: %s", error)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


# --------------------------------------------------------------------------- test hook
# STREETSHOP_TEST_PAUSE="run_search:claimed=30,index_images:upserted=30" makes the first delivery of
# those tasks sleep that many seconds at that step, so a test can kill the worker in the middle of a task
# deterministically. Steps: run_search:claimed (marked running, before the engine), index_images:claimed
# (images leased, before the engine), index_images:upserted (vectors in Milvus, not yet recorded in the
# database). The lease heartbeat goes on while it sleeps; deliveries after the first never pause. For
# the fault-injection tests (tests/webapp/test_faults.py) only: never set it in a deployment.

def pause_for_tests(point: str, attempt: int) -> None:
    """Sleep at ``point`` ("task:step") if STREETSHOP_TEST_PAUSE names it and this is the first attempt."""
    spec = os.environ.get("STREETSHOP_TEST_PAUSE", "")
    if not spec or attempt != 1:
        return
    for item in spec.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() == point:
            log.warning("STREETSHOP_TEST_PAUSE: %s pauses %s s (test hook)", point, seconds)
            time.sleep(float(seconds))
