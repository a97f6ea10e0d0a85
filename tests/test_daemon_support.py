"""Helpers for the daemon tests (no tests here): a service running in-process, waits, leak checks."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from daemon.notify import Notifier
from daemon.service import Done, Service
from tests.conftest import tiny_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll `cond` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or cond}")
        time.sleep(interval)


def daemon_settings(data_dir: Path, roots: list[dict[str, Any]], **overrides: Any):
    """Tiny-model settings for a service on a free loopback port with fast retries."""
    overrides.setdefault("server", {"port": free_port()})
    overrides.setdefault("daemon", {"retry_base_seconds": 60, "reconcile_minutes": 60})
    return tiny_settings(data_dir, roots=roots, **overrides)


@contextmanager
def running_service(settings, notifier: Notifier | None = None, ready_timeout: float = 90.0) -> Iterator[Service]:
    """A Service running its supervisor loop in a thread; stopped (and checked for rc 0) on exit."""
    svc = Service(settings, notifier=notifier or Notifier(env={}))
    rc: list[int] = []
    t = threading.Thread(target=lambda: rc.append(svc.run()), name="test-service")
    t.start()
    try:
        deadline = time.monotonic() + ready_timeout
        while not svc.ready.wait(0.1):
            if not t.is_alive() or time.monotonic() > deadline:
                svc.request_stop()
                t.join(30)
                pytest.fail(f"service did not become ready (rc={rc})")
        yield svc
    finally:
        svc.request_stop()
        t.join(60)
    assert not t.is_alive(), "service did not stop"
    assert rc == [0]


def done_for(svc: Service, path: Path | str) -> list[Done]:
    assert svc.worker is not None
    return [d for d in list(svc.worker.done) if d.path == str(path)]


def slow_copy(src: Path, dest: Path, chunk: int, interval: float) -> float:
    """Write `src` to `dest` in chunks, `interval` seconds apart; return the time of the last write."""
    data = src.read_bytes()
    with open(dest, "wb") as f:
        for i in range(0, len(data), chunk):
            f.write(data[i : i + chunk])
            f.flush()
            last = time.time()
            if i + chunk < len(data):
                time.sleep(interval)
    return last


def video_ids(svc: Service, path: Path | str) -> tuple[str, set[str]]:
    """The catalog video_id of a file and its frame ids in the store."""
    assert svc.rt is not None
    rec = svc.rt.catalog.get(str(path))
    assert rec is not None, f"{path} not in the catalog"
    return rec.video_id, set(svc.rt.store.ids_for_video(rec.video_id))


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail if a test leaves threads or child processes behind (after a short grace period)."""
    before = _threads()
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    deadline = time.monotonic() + 15
    while True:
        extra = [t for t in _threads() - before if t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not extra, f"threads left running: {sorted(t.name for t in extra)}"
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in children and p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE and not _resource_tracker(p)]
    assert not left, f"child processes left running: {[p.pid for p in left]}"


def _resource_tracker(p: psutil.Process) -> bool:
    """multiprocessing's resource tracker (started with the first spawned process, the speech
    recognition one): it lives as long as this process by design and ends with it."""
    try:
        return "resource_tracker" in " ".join(p.cmdline())
    except psutil.Error:
        return False


def rename_into(staging: Path, root: Path) -> list[Path]:
    """Move every file of `staging` into `root` (atomic renames: the files appear complete at once)."""
    out = []
    for p in sorted(staging.iterdir()):
        dest = root / p.name
        os.rename(p, dest)
        out.append(dest)
    return out
