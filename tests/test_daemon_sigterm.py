"""`reelfind serve` as a real process: SIGTERM mid-file checkpoints and exits fast; a restart resumes."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reelcore.runtime import Runtime
from tests.conftest import TINY_MODEL, tiny_env, tiny_settings
from tests.synthetic import GREY, make_clip
from tests.test_daemon_support import (
    free_port,
    no_leaks,  # noqa: F401 (fixture, used through pytestmark)
    wait_for,
)

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.slow]

BATCH = 4
INTERVAL = 0.25


def _row(data: Path, path: Path) -> dict | None:
    db = data / "catalog.sqlite3"
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        row = con.execute("SELECT * FROM files WHERE path = ?", (str(path),)).fetchone()
    except sqlite3.OperationalError:  # schema not created yet
        return None
    finally:
        con.close()
    return dict(row) if row else None


def _serve(data: Path, root: Path, log: Path, port: int) -> subprocess.Popen:
    env = tiny_env(
        data,
        REELFIND_ROOTS=json.dumps([{"path": str(root), "stable_seconds": 0.5}]),
        REELFIND_SERVER__PORT=str(port),
        REELFIND_MODEL__BATCH_SIZE=str(BATCH),
        REELFIND_SAMPLING__INTERVAL=str(INTERVAL),
    )
    exe = Path(sys.executable).with_name("reelfind")
    return subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"))  # noqa: SIM115 (closed with the process)


def _stop(proc: subprocess.Popen) -> float:
    """SIGTERM; return how long the process took to exit."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"exit status {proc.returncode}"
    return time.monotonic() - t0


def _t_ms(ids: list[str] | set[str]) -> set[int]:
    return {int(i.rsplit(":", 1)[1]) for i in ids}


def test_sigterm_mid_file_then_restart_resumes_with_the_same_ids(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    clip = root / "long.mp4"
    # Long enough that a loaded machine cannot finish it between the first commit and SIGTERM.
    make_clip(clip, [(90, GREY)], fps=10, motion=True)
    log = tmp_path / "serve.log"

    # Reference: a clean, uninterrupted run in this process.
    ref_settings = tiny_settings(tmp_path / "ref", roots=[{"path": str(root)}],
                                 model={**TINY_MODEL, "batch_size": BATCH},
                                 sampling={"interval": INTERVAL})
    rt = Runtime.open(ref_settings, "index")
    try:
        rec = rt.reconciler().reconcile(rt.configured_roots()[0]).todo[0]
        assert rt.indexer().index(rec).state == "indexed"
        ref = _t_ms(rt.store.ids_for_video(rec.video_id))
    finally:
        rt.close()

    data = tmp_path / "data"
    proc = _serve(data, root, log, free_port())
    try:
        row = wait_for(lambda: (r := _row(data, clip)) and r["cursor_ms"] is not None and r, 120, interval=0.02,
                       what="first batch committed")
        took = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    mid = _row(data, clip)
    assert mid["state"] == "indexing", "finished before SIGTERM: the clip is too short to test this"
    assert mid["cursor_ms"] >= row["cursor_ms"] and 0 < mid["frames"] < len(ref)
    assert took < 10, f"took {took:.1f} s to stop"
    print(f"SIGTERM after {mid['frames']}/{len(ref)} frames: exited in {took:.2f} s")

    port = free_port()
    proc = _serve(data, root, log, port)
    try:
        wait_for(lambda: (r := _row(data, clip)) and r["state"] == "indexed", 120, interval=0.1, what="indexed")
        status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=10).json()
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The restart embedded only what was missing (at most one batch again), not the whole file.
    assert status["progress"]["frames_done"] <= len(ref) - mid["frames"] + BATCH

    final = _row(data, clip)
    assert final["video_id"] == mid["video_id"]  # resumed, not started over
    settings = tiny_settings(data, roots=[{"path": str(root)}])
    rt = Runtime.open(settings, "check")
    try:
        ids = rt.store.ids_for_video(final["video_id"])
        assert len(ids) == len(set(ids)) == final["frames"] == rt.store.count()
        assert _t_ms(ids) == ref
    finally:
        rt.close()
