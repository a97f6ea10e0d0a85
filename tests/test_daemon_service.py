"""The watched-folder daemon in-process: real observers, real files, the tiny random-weight model."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from daemon.scheduler import queue_reconciles
from tests.conftest import BAD, FOOTAGE
from tests.test_daemon_support import (
    daemon_settings,
    done_for,
    no_leaks,  # noqa: F401 (fixture, used through pytestmark)
    running_service,
    slow_copy,
    video_ids,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("no_leaks")

STABLE = 1.0


def _root(path: Path, watch: str = "events", **kw) -> dict:
    path.mkdir(parents=True, exist_ok=True)
    return {"path": str(path), "watch": watch, "poll_interval": 0.5, "stable_seconds": STABLE, **kw}


def _indexed(svc, path: Path) -> bool:
    rec = svc.rt.catalog.get(str(path))
    return rec is not None and rec.state == "indexed"


@pytest.mark.parametrize("watch", ["events", "poll"])
def test_slow_copy_is_indexed_once_after_the_writes_stop(tmp_path: Path, watch: str) -> None:
    root = tmp_path / "root"
    settings = daemon_settings(tmp_path / "data", [_root(root, watch)])
    with running_service(settings) as svc:
        dest = root / "asl_book.mkv"
        # 16 KiB every 0.4 s: slower than a real copy, but each pause is shorter than stable_seconds.
        last_write = slow_copy(FOOTAGE / "asl_book.mkv", dest, 16 * 1024, 0.4)
        assert not done_for(svc, dest), "indexed while still being written"
        wait_for(lambda: _indexed(svc, dest), 30, what="indexed")
        time.sleep(STABLE + 0.5)  # nothing more may happen afterwards
        done = done_for(svc, dest)
        assert [d.state for d in done] == ["indexed"]
        assert done[0].started >= last_write + STABLE - 0.05
        vid, ids = video_ids(svc, dest)
        assert len(ids) == svc.rt.catalog.get(str(dest)).frames > 0
        assert svc.rt.store.count() == len(ids)


def test_rename_move_keep_vectors_and_delete_removes_them(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    a = Path(shutil.copy(FOOTAGE / "asl_book.mkv", root / "a.mkv"))
    b = Path(shutil.copy(FOOTAGE / "asl_walk.mkv", root / "b.mkv"))
    settings = daemon_settings(tmp_path / "data", [_root(root)])
    with running_service(settings) as svc:
        wait_for(lambda: _indexed(svc, a) and _indexed(svc, b), 30, what="both indexed")
        vid_a, ids_a = video_ids(svc, a)
        vid_b, ids_b = video_ids(svc, b)
        n_done = len(svc.worker.done)

        a2 = root / "renamed.mkv"
        os.rename(a, a2)
        b2 = root / "sub" / "b.mkv"
        os.rename(b, b2)
        wait_for(lambda: svc.rt.catalog.get(str(a2)) and svc.rt.catalog.get(str(b2)), 10, what="moves applied")
        assert video_ids(svc, a2) == (vid_a, ids_a)
        assert video_ids(svc, b2) == (vid_b, ids_b)
        assert svc.rt.catalog.get(str(a)) is None and svc.rt.catalog.get(str(b)) is None
        frames, _ = svc.rt.store.video_frames(vid_b)
        assert {f.path for f in frames} == {str(b2)}
        time.sleep(3 * STABLE + 1.5)  # past the delete grace period: nothing forgotten, nothing re-embedded
        assert len(svc.worker.done) == n_done
        assert svc.rt.store.count() == len(ids_a) + len(ids_b)

        a2.unlink()
        wait_for(lambda: svc.rt.catalog.get(str(a2)) is None, 15, what="delete applied")
        assert svc.rt.store.ids_for_video(vid_a) == []
        assert svc.rt.store.count() == len(ids_b)
        assert not (settings.thumbs_dir / vid_a).exists()


def test_root_renamed_away_marks_unavailable_and_comes_back(tmp_path: Path) -> None:
    root = tmp_path / "share"
    a = Path(shutil.copy(FOOTAGE / "asl_book.mkv", _mk(root) / "a.mkv"))
    settings = daemon_settings(tmp_path / "data", [_root(root)])
    with running_service(settings) as svc:
        wait_for(lambda: _indexed(svc, a), 30, what="indexed")
        vid, ids = video_ids(svc, a)
        n_done = len(svc.worker.done)

        away = tmp_path / "share-unmounted"
        os.rename(root, away)  # what an unmounted share looks like to us
        wait_for(lambda: svc.rt.catalog.get(str(a)).unavailable == 1, 15, what="marked unavailable")
        time.sleep(3 * STABLE + 1.5)  # past any delete grace period
        assert svc.rt.catalog.get(str(a)).state == "indexed"
        assert set(svc.rt.store.ids_for_video(vid)) == ids
        assert svc.status()["roots"][0]["present"] is False
        assert "offline" in svc.status_line()

        os.rename(away, root)
        wait_for(lambda: svc.rt.catalog.get(str(a)).unavailable == 0, 15, what="available again")
        assert set(svc.rt.store.ids_for_video(vid)) == ids
        # Watching resumed: a new file is picked up.
        b = Path(shutil.copy(FOOTAGE / "big_buck_bunny_432_433.webm", root / "b.webm"))
        wait_for(lambda: _indexed(svc, b), 30, what="new file after return indexed")
        assert len(svc.worker.done) == n_done + 1


def test_empty_mount_point_is_not_a_mass_delete(tmp_path: Path) -> None:
    """Files disappearing all at once (root still there, now empty) are kept as unavailable."""
    root = tmp_path / "mnt"
    a = Path(shutil.copy(FOOTAGE / "asl_book.mkv", _mk(root) / "a.mkv"))
    settings = daemon_settings(tmp_path / "data", [_root(root, "poll")])
    with running_service(settings) as svc:
        wait_for(lambda: _indexed(svc, a), 30, what="indexed")
        vid, ids = video_ids(svc, a)
        os.rename(a, tmp_path / "elsewhere.mkv")  # the root is left empty, like an unmounted mount point
        wait_for(lambda: svc.rt.catalog.get(str(a)).unavailable == 1, 15, what="marked unavailable")
        assert set(svc.rt.store.ids_for_video(vid)) == ids
        queue_reconciles([st.root for st in svc.watcher.states], svc.queue)  # the periodic scan
        wait_for(lambda: len(svc.queue) == 0 and svc.worker.job is None, 10, what="reconcile done")
        time.sleep(0.5)
        assert svc.rt.catalog.get(str(a)).unavailable == 1
        assert set(svc.rt.store.ids_for_video(vid)) == ids
        # Once something appears in the root again it is clearly mounted: the missing file is gone.
        b = Path(shutil.copy(FOOTAGE / "big_buck_bunny_432_433.webm", root / "b.webm"))
        wait_for(lambda: _indexed(svc, b), 30, what="new file indexed")
        queue_reconciles([st.root for st in svc.watcher.states], svc.queue)
        wait_for(lambda: svc.rt.catalog.get(str(a)) is None, 15, what="missing file removed")
        assert svc.rt.store.ids_for_video(vid) == []


def test_bad_file_fails_with_reason_and_replacing_it_indexes_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    settings = daemon_settings(tmp_path / "data", [_root(root)])
    with running_service(settings) as svc:
        bad = Path(shutil.copy(BAD / "text_renamed.mp4", root / "clip.mp4"))
        empty = Path(shutil.copy(BAD / "zero_bytes.mp4", root / "empty.mp4"))
        wait_for(lambda: all(svc.rt.catalog.get(str(p)) and svc.rt.catalog.get(str(p)).state == "failed"
                             for p in (bad, empty)), 30, what="both failed")
        for p in (bad, empty):
            rec = svc.rt.catalog.get(str(p))
            assert rec.error, f"no reason recorded for {p}"
            assert rec.attempts == 1 and rec.next_retry > time.time()
        status = httpx.get(f"http://127.0.0.1:{svc.port}/status", timeout=10).json()
        assert {f["path"] for f in status["failed"]} == {str(bad), str(empty)}
        assert status["state"] == "running"

        # Fix it the way people do: copy a good file over it (write elsewhere, rename into place).
        tmp = root / ".clip.mp4.part"
        shutil.copy(FOOTAGE / "big_buck_bunny_432_433.webm", tmp)
        os.replace(tmp, bad)
        wait_for(lambda: len(done_for(svc, bad)) == 2, 30, what="fixed file indexed")
        assert [d.state for d in done_for(svc, bad)] == ["failed", "indexed"]
        assert _indexed(svc, bad) and svc.rt.catalog.get(str(bad)).attempts == 0
        assert svc.rt.catalog.get(str(empty)).state == "failed"


def test_failed_file_is_retried_with_backoff_until_max_attempts(tmp_path: Path) -> None:
    root = tmp_path / "root"
    settings = daemon_settings(tmp_path / "data", [_root(root)],
                               daemon={"retry_base_seconds": 0.5, "retry_max_seconds": 2, "max_attempts": 3})
    with running_service(settings) as svc:
        bad = Path(shutil.copy(BAD / "truncated_half.mp4", root / "x.mp4"))
        shutil.copy(BAD / "audio_only.mp4", root / "audio.mp4")
        audio = root / "audio.mp4"
        wait_for(lambda: len(done_for(svc, audio)) >= 3, 30, what="3 attempts")
        attempts = done_for(svc, audio)
        rec = svc.rt.catalog.get(str(audio))
        assert rec.state == "failed" and rec.attempts == 3 and "video" in (rec.error or "")
        assert len(attempts) == 3
        gaps = [b.started - a.finished for a, b in zip(attempts, attempts[1:], strict=False)]
        assert gaps[0] >= 0.4 and gaps[1] >= 0.9  # 0.5 s, then 1 s
        time.sleep(2.5)
        assert len(done_for(svc, audio)) == 3  # max_attempts reached: no more tries
        # A truncated file is partial, not failed: indexed with a note.
        wait_for(lambda: _indexed(svc, bad), 30, what="partial file indexed")
        assert svc.rt.catalog.get(str(bad)).note


def test_status_and_enqueue_need_the_token(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    settings = daemon_settings(tmp_path / "data", [_root(root)], server={"port": _port(), "token": "s3cret"})
    with running_service(settings) as svc:
        base = f"http://127.0.0.1:{svc.port}"
        assert httpx.get(f"{base}/status").status_code == 401
        assert httpx.get(f"{base}/status", headers={"Authorization": "Bearer nope"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        st = httpx.get(f"{base}/status", headers=auth).json()
        # The startup reconcile of the (empty) root may still be queued while the worker loads the model.
        assert st["state"] == "running" and st["counts"]["indexed"] == 0 and st["queue"]["queued"] in (0, 1)
        assert st["roots"][0]["mode"] == "events"
        # The MCP app is mounted beside them, behind the same token.
        client = {"name": "test", "version": "1"}
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}}
        accept = {"Accept": "application/json, text/event-stream"}
        assert httpx.post(f"{base}/mcp", json=init, headers=accept).status_code == 401
        r = httpx.post(f"{base}/mcp", json=init, headers={**accept, **auth})
        assert r.status_code == 200 and '"result"' in r.text

        assert httpx.post(f"{base}/enqueue", json={"paths": [str(root)]}).status_code == 401
        assert httpx.post(f"{base}/enqueue", headers=auth, content=b"nope").status_code == 400
        assert httpx.post(f"{base}/enqueue", headers=auth, json={"paths": "x"}).status_code == 400
        r = httpx.post(f"{base}/enqueue", headers=auth, json={"paths": [str(outside), "relative/x.mp4"]})
        assert r.status_code == 422 and r.json()["accepted"] == 0
        assert [x["path"] for x in r.json()["rejected"]] == [str(outside), "relative/x.mp4"]

        # A file that arrived while nobody watched (simulated by an old mtime and no event handling):
        clip = root / "old.mkv"
        svc.watcher.stop()  # no events from here on
        shutil.copy(FOOTAGE / "asl_walk.mkv", clip)
        os.utime(clip, (time.time() - 3600, time.time() - 3600))
        r = httpx.post(f"{base}/enqueue", headers=auth, json={"paths": [str(clip), str(root / "missing.mp4")]})
        assert r.status_code == 202
        assert r.json()["accepted"] == 1 and r.json()["paths"] == [str(clip)]
        assert r.json()["rejected"][0]["reason"] == "no such file or folder"
        wait_for(lambda: _indexed(svc, clip), 30, what="handed-over file indexed")


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _port() -> int:
    from tests.test_daemon_support import free_port

    return free_port()


@pytest.mark.slow
def test_two_hundred_clips_dropped_at_once_are_each_indexed_once(tmp_path: Path) -> None:
    from tests.synthetic import make_clip

    staging, root = tmp_path / "staging", tmp_path / "root"
    staging.mkdir()
    for i in range(200):  # one-frame clips, each its own colour: distinct bytes, distinct fingerprints
        colour = ((i % 8) * 32, ((i // 8) % 8) * 32, (i // 64) * 64)
        make_clip(staging / f"clip{i:03d}.mp4", [(0.04, colour)])
    assert len({p.read_bytes() for p in staging.iterdir()}) == 200
    settings = daemon_settings(tmp_path / "data", [_root(root, stable_seconds=0.5)])
    with running_service(settings) as svc:
        t0 = time.monotonic()
        for p in sorted(staging.iterdir()):
            os.rename(p, root / p.name)
        wait_for(lambda: svc.rt.catalog.counts()["indexed"] == 200, 150, interval=0.5, what="200 indexed")
        elapsed = time.monotonic() - t0
        time.sleep(1.5)
        done = list(svc.worker.done)
        assert len(done) == 200 and len({d.path for d in done}) == 200
        assert {d.state for d in done} == {"indexed"}
        assert svc.rt.store.count() == svc.rt.catalog.counts()["frames"] == 200
        print(f"200 clips indexed in {elapsed:.1f} s")


def test_startup_failures_exit_with_a_clear_status(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import socket

    from daemon.notify import Notifier
    from daemon.service import Service

    root = tmp_path / "root"
    bad_model = daemon_settings(tmp_path / "d1", [_root(root)], model={"name": "no-such-model", "pretrained": "none"})
    assert Service(bad_model, Notifier(env={})).run() == 2  # configuration: systemd must not restart-loop
    assert "no-such-model" in caplog.text

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        settings = daemon_settings(tmp_path / "d2", [_root(root)], server={"port": busy.getsockname()[1]})
        assert Service(settings, Notifier(env={})).run() == 1
    assert "cannot listen on 127.0.0.1" in caplog.text
    # The lock was released: the next start works.
    settings = daemon_settings(tmp_path / "d2", [_root(root)])
    with running_service(settings):
        pass


def test_cli_search_and_index_go_through_the_running_service(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import tiny_env

    root = tmp_path / "root"
    settings = daemon_settings(tmp_path / "data", [_root(root)], server={"port": _port(), "token": "s3cret"})
    env = tiny_env(tmp_path / "data", REELFIND_SERVER__PORT=str(settings.server.port),
                   REELFIND_SERVER__TOKEN="s3cret")
    cli = [sys.executable, "-m", "reelfind.cli"]
    with running_service(settings) as svc:
        clip = root / "asl_book.mkv"
        shutil.copy(FOOTAGE / "asl_book.mkv", clip)
        wait_for(lambda: _indexed(svc, clip), 30, what="indexed")
        # search asks the service (it owns the embedded store) instead of opening the store itself
        r = subprocess.run([*cli, "search", "a woman", "--json"], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        # One file is indexed, so this protects the hand-over (the answer came from the service that
        # owns the store, with the token), not ranking: ranking is tested in test_mcp_planted.py.
        assert json.loads(r.stdout)[0]["path"] == str(clip)
        # index hands paths over; what the service refuses is listed, exit 1
        r = subprocess.run([*cli, "index", str(root), str(tmp_path)], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 1 and "handed 1 path(s)" in r.stderr and "not taken" in r.stderr, r.stderr
