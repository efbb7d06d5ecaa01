"""How hard tasks retry and when a task is presumed lost: one place for the delivery timings.

Each value comes from the Django setting of the same name when the settings
define it, else from the environment variable, else the default below. The
web and the workers read them at call time (except the retry count of a task,
read when the worker imports the tasks), so the tests can make them short.

Leases. The database, not the broker, says what work is outstanding: a search
``queued`` or ``running`` and a catalog image ``pending`` each carry a
``lease_until``. Whoever vouches for the work moves it forward: the web when
it queues (``STREETSHOP_QUEUE_LEASE_S``), the worker when it starts and then
every third of ``STREETSHOP_RUN_LEASE_S`` while it runs (a heartbeat), a retry
until its countdown is over. A lease that ran out means the task is gone (its
worker was killed, the broker lost or never got the message), and
``workers.recovery`` queues the work again.

Attempts. A delivery that starts counts one attempt and a delivery that ends
(done, failed, or retry scheduled) gives it back, so ``attempts`` counts the
deliveries that died with their worker. After ``STREETSHOP_TASK_MAX_ATTEMPTS``
of those the work is marked failed instead of killing one more worker (a photo
that makes the engine crash must not loop for ever).
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta

DEFAULTS: dict[str, float] = {
    # Retries of an indexing task while the vector index is unavailable (then the lease takes over).
    "STREETSHOP_TASK_RETRIES": 6,
    # Retries of a search: a shopper is waiting, so few; then "search is unavailable, try again".
    "STREETSHOP_SEARCH_RETRIES": 2,
    # Exponential backoff between retries: base * 2**retry seconds, capped.
    "STREETSHOP_TASK_BACKOFF_S": 2.0,
    "STREETSHOP_TASK_BACKOFF_MAX_S": 60.0,
    # A running task renews its lease every third of this; a lease older than this means its worker died.
    "STREETSHOP_RUN_LEASE_S": 60.0,
    # Work queued and not started for this long is queued again (a lost message; a duplicate is harmless).
    "STREETSHOP_QUEUE_LEASE_S": 900.0,
    # Deliveries that died with their worker before the work is marked failed.
    "STREETSHOP_TASK_MAX_ATTEMPTS": 3,
    # How often the beat runs the recovery (a worker also runs it when it starts).
    "STREETSHOP_RECOVERY_INTERVAL_S": 60.0,
}


def value(name: str) -> float:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        configured = getattr(settings, name, None)
    except ImproperlyConfigured:  # no Django settings in this process
        configured = None
    if configured is None:
        configured = os.environ.get(name, DEFAULTS[name])
    return float(configured)


def task_retries() -> int:
    return int(value("STREETSHOP_TASK_RETRIES"))


def search_retries() -> int:
    return int(value("STREETSHOP_SEARCH_RETRIES"))


def backoff(retries: int) -> float:
    """Seconds before retry number ``retries + 1``."""
    return min(value("STREETSHOP_TASK_BACKOFF_S") * 2**retries, value("STREETSHOP_TASK_BACKOFF_MAX_S"))


def run_lease_s() -> float:
    return value("STREETSHOP_RUN_LEASE_S")


def max_attempts() -> int:
    return int(value("STREETSHOP_TASK_MAX_ATTEMPTS"))


def recovery_interval_s() -> float:
    return value("STREETSHOP_RECOVERY_INTERVAL_S")


def queued_lease_until() -> datetime:
    """The lease of work just queued (also the default of new searches and images)."""
    from django.utils import timezone

    return timezone.now() + timedelta(seconds=value("STREETSHOP_QUEUE_LEASE_S"))


def running_lease_until(extra_s: float = 0.0) -> datetime:
    """The lease of work a worker runs now (renewed by its heartbeat), or retries in ``extra_s``."""
    from django.utils import timezone

    return timezone.now() + timedelta(seconds=run_lease_s() + extra_s)
