"""The work queue between the watcher and the worker: `Job` and a de-duplicated FIFO (docs/architecture.md).

The watcher, the scheduler and POST /enqueue only put jobs here; the one worker takes them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type only: WatchedRoot lives with the observers
    from .watched import WatchedRoot


@dataclass(frozen=True)
class Job:
    """One unit of work. kind "file": (re)check and index `path`; "gone": `path` (file or folder)
    was deleted; "reconcile": full scan of `root` (or of folder/file `path` inside it).
    `src` = moved from there; `retry` = a failed file due for another try; `stat` = (size,
    mtime_ns) when the file was found stable (the worker re-checks it before indexing)."""

    kind: str
    path: str
    root: WatchedRoot | None = None
    src: str | None = None
    retry: bool = False
    stat: tuple[int, int] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return ("reconcile" if self.kind == "reconcile" else "path", self.path)


def _merge(old: Job, new: Job) -> Job:
    """A path queued twice is one job: the latest fact wins, a move source or retry flag is kept."""
    if new.kind != "file" or old.kind != "file":
        return new
    return replace(new, src=new.src or old.src, retry=new.retry or old.retry)


class WorkQueue:
    """FIFO of jobs, de-duplicated by path: re-queueing a queued path updates it in place."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[tuple[str, str], Job] = OrderedDict()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job: Job) -> bool:
        """Queue a job; False if it merged into one already queued (or the queue is closed)."""
        with self._cond:
            if self._closed:
                return False
            old = self._jobs.get(job.key)
            self._jobs[job.key] = _merge(old, job) if old else job
            self._cond.notify()
            return old is None

    def get(self, timeout: float | None = None) -> Job | None:
        """The oldest job, or None after `timeout` seconds / once closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._jobs or self._closed, timeout):
                return None
            if not self._jobs:
                return None
            return self._jobs.popitem(last=False)[1]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)

    def paths(self) -> list[str]:
        with self._cond:
            return [j.path for j in self._jobs.values()]
