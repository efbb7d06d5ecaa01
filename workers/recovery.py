"""Queue again the work whose task was lost: the database, not the broker, says what is outstanding.

A search ``queued`` or ``running`` and a catalog image ``pending`` each hold a
lease (``lease_until``, ``index_lease_until``; see workers.policy). Whoever
vouches for the work keeps it in the future: the web when it queues, the
worker's heartbeat while the task runs, a retry until its countdown ends. A
lease in the past (or none) means no live task has the work any more:

* a worker killed as a whole (SIGKILL, OOM, a machine lost): the filesystem
  broker deleted the message when the worker fetched it, and Redis gives an
  unacknowledged message back only after its visibility timeout;
* a retry that was waiting in the killed worker (a countdown lives there);
* a message the broker refused (it was down when the web queued the images)
  or lost (its data wiped).

``recover()`` claims such work in a transaction (rows locked and skipped by a
concurrent recovery, the lease moved forward before anything is sent), then
queues it again: one ``run_search`` per search, ``index_images`` batches per
job. Running a task twice is harmless (the search is re-run or found done; an
image is indexed under its id and counted once), so a lease that ran out on a
slow but living task costs only time. Workers run it when they start
(``worker_ready`` in workers.app) and the beat every
STREETSHOP_RECOVERY_INTERVAL_S.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workers import policy

log = logging.getLogger(__name__)

LIMIT = 10_000  # rows per kind and run; the next run takes the rest


def recover(limit: int = LIMIT) -> dict[str, int]:
    """Queue again searches and images whose lease ran out; returns how many of each were queued."""
    searches = recover_searches(limit)
    images = recover_images(limit)
    if searches or images:
        log.warning("recovery: queued again %d searches and %d catalog images whose task was lost", searches, images)
    return {"searches": searches, "images": images}


def recover_searches(limit: int = LIMIT) -> int:
    from webapp.search.models import Search, SearchStatus

    from workers.tasks import run_search

    with transaction.atomic():
        ids = list(
            Search.objects.select_for_update(skip_locked=True)
            .filter(status__in=[SearchStatus.QUEUED, SearchStatus.RUNNING])
            .filter(_lapsed("lease_until"))
            .order_by("created").values_list("pk", flat=True)[:limit]
        )
        Search.objects.filter(pk__in=ids).update(status=SearchStatus.QUEUED, lease_until=policy.queued_lease_until())
    for done, search_id in enumerate(ids):
        if not _publish(run_search, [str(search_id)]):
            Search.objects.filter(pk__in=ids[done:], status=SearchStatus.QUEUED).update(lease_until=None)
            return done
    return len(ids)


def recover_images(limit: int = LIMIT) -> int:
    from engine.batches import batches
    from webapp.catalog.models import IndexState, ProductImage

    from workers.tasks import index_images

    with transaction.atomic():
        rows = list(
            ProductImage.objects.select_for_update(skip_locked=True)
            .filter(index_state=IndexState.PENDING)
            .filter(_lapsed("index_lease_until"))
            .order_by("pk").values_list("pk", "index_job_id")[:limit]
        )
        ProductImage.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            index_lease_until=policy.queued_lease_until()
        )
    by_job: dict[int | None, list[int]] = defaultdict(list)
    for pk, job_id in rows:
        by_job[job_id].append(pk)
    sent: set[int] = set()
    for job_id, ids in by_job.items():
        for batch in batches(ids, settings.STREETSHOP_INDEX_BATCH):
            if not _publish(index_images, [batch, job_id]):
                unsent = [pk for pk, _ in rows if pk not in sent]
                ProductImage.objects.filter(pk__in=unsent, index_state=IndexState.PENDING).update(
                    index_lease_until=None
                )
                return len(sent)
            sent.update(batch)
    return len(sent)


def _lapsed(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": timezone.now()})


def _publish(task, args: list) -> bool:
    from kombu.exceptions import KombuError

    try:
        task.apply_async(args=args, retry=False)
    except (KombuError, ConnectionError, OSError) as error:
        log.error("recovery: the broker is unreachable (%s); the next run queues the rest", error)
        return False
    return True
