"""Watch roots and feed the work queue (docs/architecture.md, data flow steps "discover" and "stabilise").

One watchdog observer per root: `Observer` (inotify) for ``watch = "events"``, `PollingObserver`
for ``"poll"`` (network shares). Event handlers only record paths; they never do work and never
raise. Created/written files go to the stability tracker (daemon/stability.py), which turns them
into jobs (daemon/jobs.py) once they settle; the worker (daemon/worker.py) does the work.

A monitor thread ticks the stability tracker, checks every root (present? observer alive?),
restarts dead observers, and falls back to polling for a root whose inotify limit is exhausted.
When a root (re)appears, or its observer is restarted, a reconcile of that root is queued.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from reelcore.ingest.discovery import utf8_name
from reelcore.ingest.roots import offline_reason

from .jobs import Job, WorkQueue
from .stability import StabilityTracker, delete_grace
from .watched import WatchedRoot

log = logging.getLogger(__name__)

# Opened / closed-without-write events are left out: the indexer's own reads would echo back.
EVENT_FILTER = [
    FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
    DirCreatedEvent, DirMovedEvent, DirDeletedEvent,
]
INOTIFY_LIMIT_ERRNOS = (errno.ENOSPC, errno.EMFILE)


class _Handler(FileSystemEventHandler):
    """Passes events on; an exception here would kill the observer thread, so none escapes."""

    def __init__(self, root: WatchedRoot, sink: Callable[[FileSystemEvent, WatchedRoot], None]) -> None:
        super().__init__()
        self.root = root
        self.sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self.sink(event, self.root)
        except Exception:
            log.exception("error handling %s event for %s (ignored)", event.event_type, event.src_path)


@dataclass
class RootState:
    """What the monitor knows about one root."""

    root: WatchedRoot
    observer: BaseObserver | None = None
    mode: str = "off"  # events | poll | off
    present: bool | None = None
    was_mount: bool = False
    mounted: bool = False
    fallback: str | None = None
    limit_hit: OSError | None = None
    restarts: int = 0
    next_restart: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "path": str(self.root.path), "watch": self.root.watch, "mode": self.mode,
            "present": bool(self.present), "observer_alive": _observer_alive(self.observer),
            "fallback": self.fallback, "restarts": self.restarts,
        }


def _observer_alive(obs: BaseObserver | None) -> bool:
    if obs is None or not obs.is_alive():
        return False
    fd = getattr(obs, "_inotify_fd", None)  # InotifyObserver's reader thread
    if fd is not None and not fd.is_alive():
        return False
    return all(e.is_alive() for e in obs.emitters)


def _stop_observer(obs: BaseObserver | None, timeout: float = 5.0) -> None:
    if obs is None:
        return
    try:
        obs.stop()  # also stops emitters and the inotify reader, even if never started
        if obs.is_alive():
            obs.join(timeout)
    except Exception:
        log.exception("error stopping observer")


class Watcher:
    """Observers for all roots + the stability tracker + a monitor thread that keeps them healthy."""

    def __init__(self, roots: Sequence[WatchedRoot], queue: WorkQueue, *, tick: float = 0.25,
                 root_check: float = 1.0) -> None:
        self.queue = queue
        self.tracker = StabilityTracker(queue, delete_grace(roots))
        self.states = [RootState(r) for r in roots]
        self.tick = tick
        self.root_check = root_check
        self.started = threading.Event()  # every root seen once: observers up, reconciles queued
        self.heartbeat = time.monotonic()
        self._stop = threading.Event()
        self._check_now = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reelfind-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._check_now.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for st in self.states:
            _stop_observer(st.observer)
            st.observer, st.mode = None, "off"

    def healthy(self, stall: float) -> bool:
        return self._thread is not None and self._thread.is_alive() and time.monotonic() - self.heartbeat < stall

    def offline_reason(self, root: WatchedRoot, catalog_has_files: Callable[[], bool] | None = None) -> str | None:
        """reelcore.ingest.roots' rule for `root`, with what this watcher saw (was it a mount point?)."""
        st = self._state(root)
        return offline_reason(root.path, catalog_has_files, was_mount=st is not None and st.was_mount)

    def root_available(self, root: WatchedRoot) -> bool:
        """Present, and still a mount point if it was one (the catalog part of the rule is applied
        by the worker, which owns the catalog)."""
        return self.offline_reason(root) is None

    def snapshot(self) -> list[dict[str, Any]]:
        return [s.snapshot() for s in self.states]

    def root_for(self, path: str) -> WatchedRoot | None:
        p = Path(path)
        for st in self.states:
            if p == st.root.path or st.root.path in p.parents:
                return st.root
        return None

    def _state(self, root: WatchedRoot) -> RootState | None:
        return next((s for s in self.states if s.root.path == root.path), None)

    # -- monitor thread ---------------------------------------------------------------------
    def _run(self) -> None:
        next_check = 0.0
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                if time.monotonic() >= next_check or self._check_now.is_set():
                    self._check_now.clear()
                    self.check_roots()
                    next_check = time.monotonic() + self.root_check
                    self.started.set()
                self.tracker.tick()
            except Exception:
                log.exception("watch monitor error (continuing)")
            self._check_now.wait(self.tick)

    def check_roots(self) -> None:
        """Start, stop or restart observers as roots come and go; queue reconciles on changes."""
        for st in self.states:
            if self._stop.is_set():
                return
            available = self.root_available(st.root)
            if not available:
                if st.present is not False:
                    if st.present:
                        log.warning("root %s disappeared (unmounted or offline?): its files are marked "
                                    "unavailable, nothing is deleted; watching for its return", st.root.path)
                    _stop_observer(st.observer)
                    st.observer, st.mode, st.present = None, "off", False
                    self.tracker.drop_root(st.root)
                    self.queue.put(Job("reconcile", str(st.root.path), st.root))
                continue
            if st.present is False:
                log.info("root %s is available again: reconciling", st.root.path)
            mounted = os.path.ismount(st.root.path)
            if not st.present:
                st.was_mount = st.was_mount or mounted
                st.mounted, st.present = mounted, True
                self._start_observer(st)
                if self._stop.is_set():  # stop() ran while a slow (polling) start was in progress
                    _stop_observer(st.observer)
                    st.observer, st.mode = None, "off"
                    return
                self.queue.put(Job("reconcile", str(st.root.path), st.root))
            elif mounted != st.mounted:  # a share mounted onto the root folder: watch the new filesystem
                log.info("a filesystem was mounted on root %s: watching it and reconciling", st.root.path)
                st.was_mount = st.mounted = True
                self._restart_observer(st, quiet=True)
            elif st.limit_hit is not None or (
                    not _observer_alive(st.observer) and time.monotonic() >= st.next_restart):
                self._restart_observer(st)

    def _restart_observer(self, st: RootState, quiet: bool = False) -> None:
        if st.limit_hit is not None:
            err, st.limit_hit = st.limit_hit, None
            self._fall_back(st, err)
        elif not quiet:
            log.warning("observer for %s stopped unexpectedly: restarting it and reconciling (events may "
                        "have been missed)", st.root.path)
        _stop_observer(st.observer)
        st.observer, st.mode = None, "off"
        self._start_observer(st)
        st.restarts += 1
        # Back off if it keeps dying: 1 s, 2 s, 4 s ... at most a minute between attempts.
        st.next_restart = time.monotonic() + min(60.0, 2.0 ** min(st.restarts - 1, 6))
        self.queue.put(Job("reconcile", str(st.root.path), st.root))

    def _start_observer(self, st: RootState) -> None:
        if st.root.watch == "events" and st.fallback is None:
            try:
                st.observer = self._inotify_observer(st)
                st.mode = "events"
                return
            except OSError as e:
                if e.errno not in INOTIFY_LIMIT_ERRNOS:
                    log.error("cannot watch %s with inotify (%s): polling it instead", st.root.path, e)
                    st.fallback = f"inotify failed: {e}"
                else:
                    self._fall_back(st, e)
        obs = PollingObserver(timeout=st.root.poll_interval)
        try:
            obs.schedule(_Handler(st.root, self._on_event), str(st.root.path), recursive=True,
                         event_filter=EVENT_FILTER)
            obs.start()
        except OSError as e:
            _stop_observer(obs)
            log.error("cannot watch %s: %s (will retry)", st.root.path, e)
            st.mode = "off"
            return
        st.observer, st.mode = obs, "poll"

    def _fall_back(self, st: RootState, err: OSError) -> None:
        what = "watch limit (fs.inotify.max_user_watches)" if err.errno == errno.ENOSPC else \
            "instance limit (fs.inotify.max_user_instances)"
        st.fallback = f"inotify {what} reached"
        log.error("inotify %s reached while watching %s: falling back to polling every %g s for this root. "
                  "Raise the limit (e.g. sysctl fs.inotify.max_user_watches=524288) and restart to use events.",
                  what, st.root.path, st.root.poll_interval)

    def _inotify_observer(self, st: RootState) -> BaseObserver:
        obs = Observer()
        try:
            obs.schedule(_Handler(st.root, self._on_event), str(st.root.path), recursive=True,
                         event_filter=EVENT_FILTER)
            # The hook goes in after schedule(): watchdog 7 allocates the inotify reader there
            # (6 did it in the constructor); the watches themselves are added by start().
            self._hook_watch_limit(obs, st)
            obs.start()
        except BaseException:
            st.limit_hit = None  # reported by the exception itself
            _stop_observer(obs)
            raise
        if st.limit_hit is not None:  # a subfolder could not be watched during start
            err, st.limit_hit = st.limit_hit, None
            _stop_observer(obs)
            raise err
        return obs

    def _hook_watch_limit(self, obs: BaseObserver, st: RootState) -> None:
        """Notice a watch limit hit later, on a new subfolder: watchdog only logs a warning and
        leaves that folder unwatched, so new footage there would wait for the hourly reconcile."""
        fd = getattr(obs, "_inotify_fd", None)  # the observer's own InotifyFD (watchdog 6 and 7)
        add = getattr(fd, "add_callback", None)
        if add is None:
            log.warning("this watchdog version hides its inotify reader: a watch limit reached on a new "
                        "folder under %s is only noticed by the periodic reconcile", st.root.path)
            return

        def add_callback(*args: Any, **kwargs: Any) -> Any:
            try:
                return add(*args, **kwargs)
            except OSError as e:
                if e.errno in INOTIFY_LIMIT_ERRNOS and st.limit_hit is None:
                    st.limit_hit = e
                    self._check_now.set()
                raise

        fd.add_callback = add_callback

    # -- events (observer threads): record, never work ------------------------------------
    def _on_event(self, event: FileSystemEvent, root: WatchedRoot) -> None:
        src = os.fsdecode(event.src_path)
        if not utf8_name(src):  # never catalogued (a reconcile reports it), so nothing to do
            return
        if event.is_directory:
            if event.event_type in ("deleted", "moved"):
                if Path(src) == root.path:
                    self._check_now.set()  # the root itself went away
                elif event.event_type == "deleted":
                    self.tracker.vanish(src, root)  # the worker forgets what was catalogued inside
            # Created/moved folders: watchdog reports the files inside as their own events.
            return
        if event.event_type == "moved":
            dest = os.fsdecode(event.dest_path)
            if dest and utf8_name(dest) and root.root.wants(Path(dest)):
                self.queue.put(Job("file", dest, root, src=src))
            elif root.root.wants(Path(src)):
                self.tracker.vanish(src, root)
            return
        if not root.root.wants(Path(src)):
            return
        if event.event_type == "deleted":
            self.tracker.vanish(src, root)
        else:
            self.tracker.track(src, root)
