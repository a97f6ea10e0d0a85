"""Issue 10 item 4: FIFOs, sockets, devices, folders named like videos and dangling or looping links
in a root are skipped with one log line and never opened (a FIFO used to hang `reelfind index`
forever: fingerprinting opened it before anything looked at the file type)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reelcore.ingest.discovery import Root
from reelcore.ingest.filetype import special_file_reason
from reelcore.ingest.fingerprint import fingerprint
from reelcore.runtime import Runtime

from .conftest import FOOTAGE, tiny_env, tiny_settings

REELFIND = [sys.executable, "-m", "reelfind.cli"]


def _specials(root: Path) -> dict[str, str]:
    """Every kind of non-regular path named like footage; returns name -> expected reason word."""
    os.mkfifo(root / "pipe.mp4")
    os.symlink("pipe.mp4", root / "link to pipe.mkv")
    os.symlink("does-not-exist.mp4", root / "dangling.mp4")
    os.symlink("loop-b.mp4", root / "loop-a.mp4")
    os.symlink("loop-a.mp4", root / "loop-b.mp4")
    os.symlink("/dev/null", root / "device.mp4")  # a real character device, reached through a link
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock.mp4"))
    sock.close()  # the socket file stays on disk
    return {
        "pipe.mp4": "FIFO", "link to pipe.mkv": "FIFO", "dangling.mp4": "dangling",
        "loop-a.mp4": "loop", "loop-b.mp4": "loop", "device.mp4": "character device", "sock.mp4": "socket",
    }


def test_special_file_reason_names_each_kind_without_opening(tmp_path):
    expected = _specials(tmp_path)
    (tmp_path / "folder.mp4").mkdir()
    expected["folder.mp4"] = "directory"
    shutil.copy(FOOTAGE / "asl_walk.mkv", tmp_path / "clip.mkv")
    for name, word in expected.items():
        why = special_file_reason(tmp_path / name)
        assert why is not None and word in why, (name, why)
    assert special_file_reason(tmp_path / "clip.mkv") is None
    assert special_file_reason(tmp_path / "vanished.mp4") is None  # not special: the caller reports it


def test_fingerprint_refuses_a_fifo_instead_of_blocking(tmp_path):
    os.mkfifo(tmp_path / "x.mp4")
    result: list[BaseException | str] = []
    t = threading.Thread(target=lambda: result.append(_try(fingerprint, tmp_path / "x.mp4")), daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive(), "fingerprint() blocked on a FIFO"
    assert isinstance(result[0], OSError) and "FIFO" in str(result[0])


def _try(fn, *args):
    try:
        return fn(*args)
    except BaseException as e:  # noqa: BLE001 - handed to the asserting thread
        return e


def test_reelfind_index_with_a_fifo_in_the_root_finishes_and_indexes_the_clip(tmp_path):
    root = tmp_path / "clips"
    root.mkdir()
    shutil.copy(FOOTAGE / "asl_walk.mkv", root / "clip.mkv")
    expected = _specials(root)
    (root / "folder.mp4").mkdir()  # a folder named like a video is walked like any folder
    shutil.copy(FOOTAGE / "asl_book.mkv", root / "folder.mp4" / "inside.mkv")
    env = tiny_env(tmp_path / "data")
    r = subprocess.run(REELFIND + ["index", str(root), "--json"], env=env, capture_output=True, text=True,
                       timeout=120)  # the old code never returned (TimeoutExpired fails the test)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 2 and summary["failed"] == []
    assert sorted(Path(s["path"]).name for s in summary["skipped"]) == sorted(expected)
    for name in expected:  # one log line each
        assert sum(name in line for line in r.stderr.splitlines()) == 1, (name, r.stderr)
    # Nobody opened the FIFO for writing, so a reader that opened it would still be blocked; and the
    # FIFO itself got no catalog row.
    st = json.loads(subprocess.run(REELFIND + ["status", "--json"], env=env, capture_output=True,
                                   text=True, timeout=60).stdout)
    assert st["counts"]["indexed"] == 2 and st["counts"]["failed"] == 0
    # Naming the FIFO itself on the command line does not hang either.
    r = subprocess.run(REELFIND + ["index", str(root / "pipe.mp4"), "--json"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["indexed"] == 0, r.stderr
    assert "FIFO" in r.stderr


def test_a_catalogued_file_replaced_by_a_fifo_keeps_its_vectors_and_is_not_opened(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(FOOTAGE / "asl_walk.mkv", root / "clip.mkv")
    rt = Runtime.open(tiny_settings(tmp_path / "data"), "test")
    try:
        for rec in rt.reconciler().reconcile(Root(root)).todo:
            rt.indexer().index(rec)
        rec = rt.catalog.get(str(root / "clip.mkv"))
        n = len(rt.store.ids_for_video(rec.video_id))
        (root / "clip.mkv").unlink()
        os.mkfifo(root / "clip.mkv")
        plan = rt.reconciler().reconcile(Root(root))
        assert plan.todo == [] and plan.removed == [] and [p for p, _ in plan.skipped] == [rec.path]
        assert len(rt.store.ids_for_video(rec.video_id)) == n
        # The indexer, handed the stale record (a queued job), refuses it from stat alone.
        out = rt.indexer().index(rec)
        assert out.state == "failed" and "FIFO" in (out.reason or "")
    finally:
        rt.close()


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_reconcile_skips_a_device_named_as_scope(tmp_path):
    rt = Runtime.open(tiny_settings(tmp_path / "data"), "test")
    try:
        plan = rt.reconciler().reconcile(Root(Path("/dev")), scope=Path("/dev/null"))
        assert plan.todo == [] and plan.skipped and "character device" in plan.skipped[0][1]
    finally:
        rt.close()
