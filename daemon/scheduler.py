"""APScheduler (3.x) jobs: the periodic reconcile scan and the retry of failed files.

Both jobs only queue work (the indexing worker does it), so they are quick; they still run with
``max_instances=1`` and ``coalesce=True`` so a stalled clock or a busy process never stacks runs.
Failed files come back when their backoff (``Indexer`` sets ``next_retry``: base * 2^(attempts-1),
capped) has passed, until ``daemon.max_attempts``; a changed file is retried at once by the
watcher/reconcile path, not here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from reelcore.config import DaemonSettings
from reelcore.ingest.discovery import Root
from reelcore.storage.catalog import Catalog

from .watcher import Job, WatchedRoot, WorkQueue

log = logging.getLogger(__name__)


def retry_check_seconds(d: DaemonSettings) -> float:
    """How often to look for due retries: a quarter of the base backoff, between 0.5 s and 60 s."""
    return min(60.0, max(0.5, d.retry_base_seconds / 4))


def queue_reconciles(roots: list[WatchedRoot], queue: WorkQueue) -> int:
    """Queue a full reconcile of every root (catches events the observers missed)."""
    return sum(queue.put(Job("reconcile", str(r.path), r)) for r in roots)


def queue_due_retries(catalog: Catalog, queue: WorkQueue, max_attempts: int,
                      root_for: Callable[[str], WatchedRoot | None], now: float | None = None) -> int:
    """Queue failed files whose backoff has passed; returns how many were new to the queue."""
    n = 0
    for rec in catalog.due_for_retry(time.time() if now is None else now, max_attempts):
        root = root_for(rec.path) or WatchedRoot(Root(Path(rec.root)))
        n += queue.put(Job("file", rec.path, root, retry=True))
    if n:
        log.info("retrying %d failed file(s)", n)
    return n


def build_scheduler(settings: DaemonSettings, reconcile: Callable[[], object],
                    retry: Callable[[], object]) -> BackgroundScheduler:
    """A (not yet started) scheduler with the reconcile and retry jobs.

    The first periodic reconcile runs one interval after start: the startup reconcile is queued
    by the watcher as each root comes up.
    """
    sched = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    now = datetime.now(UTC)
    every = timedelta(minutes=settings.reconcile_minutes)
    sched.add_job(reconcile, IntervalTrigger(seconds=every.total_seconds(), timezone=UTC), id="reconcile",
                  name="periodic reconcile scan", next_run_time=now + every, max_instances=1, coalesce=True)
    retry_every = retry_check_seconds(settings)
    sched.add_job(retry, IntervalTrigger(seconds=retry_every, timezone=UTC), id="retry",
                  name="retry failed files", next_run_time=now + timedelta(seconds=retry_every),
                  max_instances=1, coalesce=True)
    return sched
