"""Watcher, stability tracker and work queue with real observers and real files (no model)."""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

import pytest
from watchdog.observers.inotify_c import InotifyFD

from daemon.jobs import Job, WorkQueue
from daemon.stability import StabilityTracker
from daemon.watcher import WatchedRoot, Watcher
from reelcore.ingest.discovery import Root
from tests.conftest import FOOTAGE
from tests.test_daemon_support import (
    no_leaks,  # noqa: F401 (fixture, used through pytestmark)
    slow_copy,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("no_leaks")


def _wr(path: Path, watch: str = "events", stable: float = 0.5) -> WatchedRoot:
    path.mkdir(parents=True, exist_ok=True)
    return WatchedRoot(Root(path), watch, poll_interval=0.3, stable_seconds=stable)


def _drain(q: WorkQueue, kind: str | None = None) -> list[Job]:
    out = []
    while (job := q.get(timeout=0)) is not None:
        if kind is None or job.kind == kind:
            out.append(job)
    return out


class _Running:
    def __init__(self, *roots: WatchedRoot) -> None:
        self.queue = WorkQueue()
        self.watcher = Watcher(list(roots), self.queue, tick=0.05, root_check=0.2)

    def __enter__(self) -> _Running:
        self.watcher.start()
        assert self.watcher.started.wait(10)
        _drain(self.queue, "reconcile")  # the startup reconciles
        return self

    def __exit__(self, *exc: object) -> None:
        self.watcher.stop()

    def state(self, i: int = 0):
        return self.watcher.states[i]


# -- queue ------------------------------------------------------------------------------------
def test_queue_deduplicates_and_merges() -> None:
    q = WorkQueue()
    r = WatchedRoot(Root(Path("/r")))
    assert q.put(Job("file", "/r/a.mp4", r))
    assert q.put(Job("file", "/r/b.mp4", r))
    assert not q.put(Job("file", "/r/a.mp4", r, src="/r/old.mp4"))
    assert not q.put(Job("file", "/r/a.mp4", r, retry=True))
    assert q.put(Job("reconcile", "/r/a.mp4", r))  # a reconcile is its own job
    assert len(q) == 3
    a = q.get(0)
    assert (a.path, a.src, a.retry) == ("/r/a.mp4", "/r/old.mp4", True)  # first in, flags kept
    q.put(Job("gone", "/r/b.mp4", r))  # the latest fact about a path wins
    assert q.get(0).kind == "gone"
    assert q.get(0).kind == "reconcile"
    assert q.get(timeout=0.01) is None
    q.close()
    assert not q.put(Job("file", "/r/c.mp4", r))


# -- stability --------------------------------------------------------------------------------
@pytest.mark.parametrize("watch", ["events", "poll"])
def test_slowly_growing_file_becomes_one_job_after_writes_stop(tmp_path: Path, watch: str) -> None:
    root = _wr(tmp_path / "root", watch, stable=0.8)
    with _Running(root) as w:
        dest = root.path / "slow.mkv"
        # 16 KiB every 0.5 s for ~8 s: never still for stable_seconds until the end.
        last = slow_copy(FOOTAGE / "asl_book.mkv", dest, 16 * 1024, 0.5)
        assert _drain(w.queue) == [], "a file still being written became a job"
        job = wait_for(lambda: w.queue.get(timeout=0.05), 10, what="the job")
        assert time.time() >= last + 0.8 - 0.05
        assert (job.kind, job.path, job.stat) == ("file", str(dest), (dest.stat().st_size, dest.stat().st_mtime_ns))
        time.sleep(1.5)
        assert _drain(w.queue) == []
        assert len(w.watcher.tracker) == 0


def test_file_that_cannot_be_opened_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stable size and mtime are not enough: it must open (a Windows writer can hold an SMB lock)."""
    import daemon.stability as watcher_mod

    locked = {"on": True}
    real = watcher_mod._can_open
    monkeypatch.setattr(watcher_mod, "_can_open", lambda p: not locked["on"] and real(p))
    root = _wr(tmp_path / "root")
    with _Running(root) as w:
        (root.path / "locked.mp4").write_bytes(b"x" * 100)
        time.sleep(1.5)
        assert _drain(w.queue) == []
        locked["on"] = False
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="job once it opens")
        assert job.path == str(root.path / "locked.mp4")


def test_move_is_a_job_at_once_and_delete_waits_for_the_grace_period(tmp_path: Path) -> None:
    root = _wr(tmp_path / "root", stable=0.5)
    a = root.path / "a.mp4"
    a.write_bytes(b"a" * 1000)
    (root.path / "sub").mkdir()
    with _Running(root) as w:
        os.rename(a, root.path / "sub" / "b.mp4")
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="move job")
        assert (job.kind, job.path, job.src) == ("file", str(root.path / "sub" / "b.mp4"), str(a))

        (root.path / "sub" / "b.mp4").unlink()
        t0 = time.monotonic()
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="gone job")
        assert job.kind == "gone" and time.monotonic() - t0 >= 2 * 0.5 + 1.0 - 0.2

        # Deleted and back within the grace period: no "gone", a settled file instead.
        c = root.path / "c.mp4"
        c.write_bytes(b"c" * 10)
        wait_for(lambda: w.queue.get(timeout=0.05), 5, what="c settles")
        c.unlink()
        time.sleep(0.2)
        c.write_bytes(b"c" * 20)
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="c again")
        assert (job.kind, job.path) == ("file", str(c))
        time.sleep(2.2)
        assert _drain(w.queue) == []


def test_ignored_names_never_become_jobs(tmp_path: Path) -> None:
    root = _wr(tmp_path / "root")
    with _Running(root) as w:
        for name in ("clip.mp4.part", ".hidden.mp4", "notes.txt", "~clip.mp4", "clip.mp4.tmp"):
            (root.path / name).write_bytes(b"x")
        time.sleep(1.2)
        assert _drain(w.queue) == []
        os.rename(root.path / "clip.mp4.part", root.path / "clip.mp4")  # a finished download
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="renamed part file")
        assert job.path == str(root.path / "clip.mp4") and job.src == str(root.path / "clip.mp4.part")


# -- robustness -------------------------------------------------------------------------------
def test_handler_error_does_not_kill_the_observer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _wr(tmp_path / "root")
    with _Running(root) as w:
        real = w.watcher.tracker.track
        calls = {"n": 0}

        def flaky(path: str, r: WatchedRoot) -> None:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("boom")
            real(path, r)

        w.watcher.tracker.track = flaky  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR, logger="daemon.watcher"):
            (root.path / "a.mp4").write_bytes(b"a")
            wait_for(lambda: "boom" in caplog.text, 5, what="the error logged")
        observer = w.state().observer
        assert observer.is_alive()
        (root.path / "b.mp4").write_bytes(b"b")
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="later event still handled")
        assert job.path in (str(root.path / "a.mp4"), str(root.path / "b.mp4"))
        assert w.state().observer is observer and w.state().restarts == 0


@pytest.mark.parametrize("watch", ["events", "poll"])
def test_dead_observer_is_restarted_and_root_reconciled(tmp_path: Path, watch: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    root = _wr(tmp_path / "root", watch)
    with _Running(root) as w, caplog.at_level(logging.WARNING, logger="daemon.watcher"):
        old = w.state().observer
        old.stop()  # as if its thread had died
        old.join(5)
        wait_for(lambda: w.state().restarts == 1 and w.state().observer is not old
                 and w.state().observer.is_alive(), 10, what="restart")
        assert "stopped unexpectedly" in caplog.text
        assert [j.kind for j in _drain(w.queue)] == ["reconcile"]
        (root.path / "new.mp4").write_bytes(b"n")
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="events after restart")
        assert job.path == str(root.path / "new.mp4")


def _limit(path_part: str | None = None):
    real = InotifyFD.add_callback

    def add_callback(self, path, *args, **kwargs):
        if path_part is None or path_part.encode() in path:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real(self, path, *args, **kwargs)

    return add_callback


def test_inotify_limit_at_start_falls_back_to_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(InotifyFD, "add_callback", _limit())
    root = _wr(tmp_path / "root")
    with caplog.at_level(logging.ERROR, logger="daemon.watcher"), _Running(root) as w:
        assert w.state().mode == "poll"
        assert "watch limit" in w.state().fallback
        assert "falling back to polling" in caplog.text and str(root.path) in caplog.text
        (root.path / "a.mp4").write_bytes(b"a")
        job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="job via polling")
        assert job.path == str(root.path / "a.mp4")


def test_inotify_limit_on_a_new_folder_falls_back_to_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(InotifyFD, "add_callback", _limit("deep"))
    root = _wr(tmp_path / "root")
    with caplog.at_level(logging.ERROR, logger="daemon.watcher"), _Running(root) as w:
        assert w.state().mode == "events"
        (root.path / "deep").mkdir()
        wait_for(lambda: w.state().mode == "poll", 10, what="fallback")
        assert "falling back to polling" in caplog.text
        (root.path / "deep" / "x.mp4").write_bytes(b"x")
        job = wait_for(lambda: w.queue.get(timeout=0.05) if len(w.queue) else None, 5, what="job in deep/")
        while job.kind == "reconcile":
            job = wait_for(lambda: w.queue.get(timeout=0.05), 5, what="job in deep/")
        assert job.path == str(root.path / "deep" / "x.mp4")


@pytest.mark.parametrize("watch", ["events", "poll"])
def test_root_that_vanishes_stops_its_observer_and_returns(tmp_path: Path, watch: str) -> None:
    root = _wr(tmp_path / "share", watch)
    (root.path / "a.mp4").write_bytes(b"a")
    with _Running(root) as w:
        _drain(w.queue)
        away = tmp_path / "away"
        os.rename(root.path, away)
        wait_for(lambda: w.state().present is False, 5, what="root noticed gone")
        assert w.state().observer is None and w.state().mode == "off"
        jobs = _drain(w.queue)
        assert [j.kind for j in jobs if j.kind != "gone"] == ["reconcile"]
        assert not w.watcher.root_available(root)
        os.rename(away, root.path)
        wait_for(lambda: w.state().present and w.state().observer is not None, 5, what="root back")
        assert w.state().mode == watch
        wait_for(lambda: any(j.kind == "reconcile" for j in _drain(w.queue)), 5, what="reconcile on return")


def test_stability_tracker_never_opens_special_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A FIFO named like a video is skipped with a log line, never tracked nor opened (opening it
    would block the monitor thread until a writer appears); so is a regular file that turns into a
    FIFO while it settles. Each tick returns at once."""
    root = _wr(tmp_path / "root", stable=0.0)
    q = WorkQueue()
    tracker = StabilityTracker(q, grace=0.0)
    fifo = root.path / "pipe.mp4"
    os.mkfifo(fifo)
    (root.path / "dir.mkv").mkdir()
    with caplog.at_level(logging.WARNING, logger="daemon.stability"):
        tracker.track(str(fifo), root)
        tracker.track(str(root.path / "dir.mkv"), root)
        assert len(tracker) == 0 and not tracker.is_tracking(str(fifo))
        later = root.path / "later.mp4"
        later.write_bytes(b"x" * 100)
        tracker.track(str(later), root)
        assert len(tracker) == 1
        later.unlink()
        os.mkfifo(later)  # swapped for a FIFO before it settled
        t0 = time.monotonic()
        assert tracker.tick() == 0 and tracker.tick() == 0
        assert time.monotonic() - t0 < 1.0
    assert len(tracker) == 0 and _drain(q) == []
    assert "pipe.mp4: a FIFO (named pipe), not a regular file" in caplog.text
    assert "dir.mkv: a directory" in caplog.text and "later.mp4: a FIFO" in caplog.text
