"""When is a file ready to index? The stability tracker (docs/architecture.md, step "stabilise").

A file becomes a job only once it is *stable*: size and mtime unchanged for ``stable_seconds``
and it can be opened. Deletions wait a grace period too, so a move between two roots (seen as
delete + create) is matched by fingerprint before anything is forgotten. Paths that are not
regular files (a FIFO named x.mp4, a socket, a device) are never opened: opening a FIFO blocks
until a writer appears, which would wedge the watcher's monitor thread.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reelcore.ingest.filetype import special_file_reason

from .jobs import Job, WorkQueue

if TYPE_CHECKING:  # type only
    from .watched import WatchedRoot

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    root: WatchedRoot
    vanish: bool
    stat: tuple[int, int] | None
    since: float


def file_stat(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a regular file; None if it is missing (or not a regular file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_size, st.st_mtime_ns)


def _can_open(path: str) -> bool:
    """The regular file can be opened and read (a copy still holding a lock may refuse)."""
    if special_file_reason(path) is not None:
        return False
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False


def delete_grace(roots: Sequence[WatchedRoot]) -> float:
    """Long enough for a file moved to any other root to be seen there and settle first (so the
    move is matched by fingerprint and keeps its vectors instead of delete + re-embed)."""
    return 1.0 + max((2 * r.stable_seconds + (r.poll_interval if r.watch == "poll" else 0.0) for r in roots),
                     default=20.0)


class StabilityTracker:
    """Files waiting to settle (appear) or to be confirmed deleted (vanish)."""

    def __init__(self, queue: WorkQueue, grace: float = 21.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.queue = queue
        self.grace = grace  # how long a deleted path must stay gone before it is forgotten
        self.clock = clock
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def track(self, path: str, root: WatchedRoot) -> None:
        """(Re)start the stability wait for a file that was created or written.

        A special file (FIFO, socket, device, directory named like a video) is skipped here with
        one log line and never tracked, so nothing downstream ever opens it."""
        special = special_file_reason(path)
        if special is not None:
            log.warning("%s: %s", path, special)
            return
        with self._lock:
            self._pending[path] = _Pending(root, False, file_stat(path), self.clock())

    def vanish(self, path: str, root: WatchedRoot) -> None:
        """A file or folder was deleted: queue "gone" if it is still absent after the grace period."""
        with self._lock:
            self._pending[path] = _Pending(root, True, None, self.clock())

    def is_tracking(self, path: str) -> bool:
        with self._lock:
            p = self._pending.get(path)
            return p is not None and not p.vanish

    def drop_root(self, root: WatchedRoot) -> None:
        with self._lock:
            for path in [k for k, v in self._pending.items() if v.root.path == root.path]:
                del self._pending[path]

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for p in self._pending.values() if not p.vanish)

    def tick(self) -> int:
        """Check every pending path once; return how many became jobs."""
        with self._lock:
            items = list(self._pending.items())
        ready: list[tuple[str, _Pending, Job]] = []
        now = self.clock()
        for path, p in items:
            job = self._check(path, p, now)
            if job is not None:
                ready.append((path, p, job))
        n = 0
        with self._lock:
            for path, p, job in ready:
                if self._pending.get(path) is p:  # not re-touched while we looked
                    del self._pending[path]
                    self.queue.put(job)
                    n += 1
        return n

    def _forget(self, path: str, p: _Pending) -> None:
        with self._lock:
            if self._pending.get(path) is p:
                del self._pending[path]

    def _check(self, path: str, p: _Pending, now: float) -> Job | None:
        if not p.vanish:
            special = special_file_reason(path)
            if special is not None:  # replaced by a FIFO/socket/... while settling: never open it
                log.warning("%s: %s", path, special)
                self._forget(path, p)
                return None
        st = file_stat(path)
        if p.vanish:
            if st is not None:  # it came back: wait for it to settle like a new file
                self.track(path, p.root)
                return None
            return Job("gone", path, p.root) if now - p.since >= self.grace else None
        if st is None:  # gone before it settled; a delete event (or the next reconcile) handles it
            self._forget(path, p)
            return None
        if st != p.stat:
            with self._lock:
                if self._pending.get(path) is p:
                    p.stat, p.since = st, now
            return None
        if now - p.since < p.root.stable_seconds or not _can_open(path):
            return None
        return Job("file", path, p.root, stat=st)
