"""Issue 10 item 2: a short decode is not a finished file.

A decode that ends early because the file could not be read at that moment (an OS read error such
as EIO/ESTALE, the file changed or vanished under the decoder, its root gone) must not mark the file
`indexed` with a "truncated" note, and must never delete vectors an earlier run committed because
this run produced fewer. A damaged file (the same stop at the same place on every try, like
bad/truncated_half.mp4) is still indexed up to the damage with a note, as before.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys

import av.error
import pytest

import reelcore.channels.visual.indexer as indexer_mod
import reelcore.media.decode as decode_mod
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime

from .conftest import BAD, FOOTAGE, REPO, TINY_MODEL, tiny_env, tiny_settings

CLIP = "car-detection.mp4"  # 30 s, ~18 sampled frames after dedup


@pytest.fixture()
def half_done(tmp_path):
    """A clip whose every frame is stored, cursor at the end, but not finished: `reelfind index`
    SIGKILLed right before the final catalog update. The next run resumes it."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(FOOTAGE / CLIP, root / CLIP)
    env = tiny_env(tmp_path / "data", REELFIND_MODEL__BATCH_SIZE="4",
                   REELFIND_TEST_CRASH="reelcore.ingest.tries:Tries.finish:before")
    r = subprocess.run([sys.executable, "-m", "tests.crashpoints", "--", "index", str(root)], env=env,
                       cwd=REPO, capture_output=True, text=True, timeout=180)
    assert r.returncode == -9, r.stderr[-2000:]
    rt = Runtime.open(tiny_settings(tmp_path / "data", model={**TINY_MODEL, "batch_size": 4}), "test")
    rec = rt.catalog.get(str(root / CLIP))
    stored = set(rt.store.ids_for_video(rec.video_id))
    assert rec.state == "indexing" and len(stored) == rec.frames > 10
    yield rt, root, rec, stored
    rt.close()


def test_a_file_truncated_while_it_is_decoded_keeps_the_stored_vectors_and_is_not_indexed(half_done, monkeypatch):
    """Real truncation in place: at the first decoded frame the file is cut to a tenth, so FFmpeg's
    next reads hit end of file. The old code called the file indexed ("truncated file?") and deleted
    every stored vector past the cut."""
    rt, root, rec, stored = half_done
    real = indexer_mod.sample_frames

    def truncating(path, *args, **kwargs):
        for n, frame in enumerate(real(path, *args, **kwargs)):
            if n == 0:
                os.truncate(path, os.path.getsize(path) // 10)
            yield frame

    monkeypatch.setattr(indexer_mod, "sample_frames", truncating)
    [todo] = rt.reconciler().reconcile(Root(root)).todo
    out = rt.indexer().index(todo)
    assert out.state == "failed" and "changed while it was read" in out.reason and "will retry" in out.reason
    row = rt.catalog.get(rec.path)
    assert row.state == "pending" and row.note is None and "truncated" not in (row.error or "")
    assert set(rt.store.ids_for_video(rec.video_id)) == stored  # nothing deleted
    assert row.frames == len(stored)
    monkeypatch.undo()
    # The next scan sees new content: a new version is indexed while the complete old one stays
    # searchable until then (and only then goes).
    [again] = rt.reconciler().reconcile(Root(root)).todo
    assert again.stale_video_id == rec.video_id and set(rt.store.ids_for_video(rec.video_id)) == stored


def test_an_io_error_mid_file_is_retried_later_and_the_same_error_twice_is_damage(half_done, monkeypatch):
    """The n-th packet of the clip fails with EIO, raised as the FFmpeg error class a failing disk or
    a dropped NFS/SMB share gives PyAV (av.error.OSError, errno 5), inside the real decode loop."""
    rt, root, rec, stored = half_done
    real = decode_mod._decode
    fail_at: list[int] = []
    seen = {"n": 0}

    def decode(stream, packet):
        seen["n"] += 1
        if seen["n"] == fail_at[-1]:
            raise av.error.OSError(errno.EIO, "Input/output error")
        return real(stream, packet)

    monkeypatch.setattr(decode_mod, "_decode", decode)

    def attempt(at: int):
        fail_at.append(at)
        seen["n"] = 0
        [todo] = rt.reconciler().reconcile(Root(root)).todo
        return rt.indexer().index(todo)

    out = attempt(60)
    assert out.state == "failed" and "read error" in out.reason and "EIO" in out.reason, out
    row = rt.catalog.get(rec.path)
    assert row.state == "pending" and row.short_at_ms is not None and row.note is None
    # The try ended: its attempt is given back (the killed run's one stays), counted as cut short.
    assert row.attempts == rec.attempts == 1 and row.short_reads == 1
    assert row.error.startswith("cut short by read problems 1 time (not a crash); last: read error at")
    assert set(rt.store.ids_for_video(rec.video_id)) == stored
    out = attempt(200)  # elsewhere this time: still a bad moment, not damage
    assert out.state == "failed" and rt.catalog.get(rec.path).state == "pending"
    assert set(rt.store.ids_for_video(rec.video_id)) == stored
    out = attempt(200)  # the same place again: a damaged spot, indexed up to it with a note
    row = rt.catalog.get(rec.path)
    assert out.state == "indexed" and row.state == "indexed" and "read error" in row.note
    # Vectors past the damaged spot that an earlier run stored stay, and are counted.
    assert set(rt.store.ids_for_video(rec.video_id)) == stored and row.frames == len(stored)


def test_the_truncated_sample_file_keeps_todays_behaviour(tmp_path):
    rt = Runtime.open(tiny_settings(tmp_path / "data"), "test")
    try:
        plan = rt.reconciler().reconcile(Root(BAD), scope=BAD / "truncated_half.mp4")
        out = rt.indexer().index(plan.todo[0])
        row = rt.catalog.get(str(BAD / "truncated_half.mp4"))
        assert out.state == "indexed" and row.state == "indexed" and "truncated" in row.note
        assert row.frames == len(rt.store.ids_for_video(row.video_id)) >= 1
    finally:
        rt.close()


def test_a_flaky_share_never_uses_up_the_crash_limit(tmp_path, monkeypatch):
    """Issue 19 item 1: reads fail transiently (EIO, somewhere else each time) on more tries than
    `daemon.max_attempts`. Each try ends cleanly: not a crash. Before the fix every cut kept its
    attempt, the retry job stopped picking the file and the next try failed it for good with
    "given up after N tries that never finished (... it may crash the decoder)"."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(FOOTAGE / CLIP, root / CLIP)
    max_attempts = 2
    settings = tiny_settings(tmp_path / "data", daemon={"max_attempts": max_attempts},
                             index={"prefetch_next": False})
    rt = Runtime.open(settings, "test")
    real = decode_mod._decode
    fail_at: list[int | None] = []
    seen = {"n": 0}

    def decode(stream, packet):
        seen["n"] += 1
        if seen["n"] == fail_at[-1]:
            raise av.error.OSError(errno.EIO, "Input/output error")
        return real(stream, packet)

    monkeypatch.setattr(decode_mod, "_decode", decode)

    def attempt(at: int | None):
        fail_at.append(at)
        seen["n"] = 0
        [todo] = rt.reconciler().reconcile(Root(root)).todo
        return rt.indexer().index(todo), rt.catalog.get(str(root / CLIP))

    try:
        cuts = max_attempts + 2
        for n in range(1, cuts + 1):
            out, row = attempt(40 * n)  # a new place each time: a share, not a damaged spot
            assert out.state == "failed" and row.state == "pending", (out, row)
            assert row.attempts == 0 and row.short_reads == n, row
            assert f"cut short by read problems {n} time" in row.error and "EIO" in row.error
            # The retry job still picks it once its (longer) backoff has passed.
            assert [r.path for r in rt.catalog.due_for_retry(row.next_retry + 1, max_attempts)] == [row.path]
        out, row = attempt(None)  # the share is back
        assert out.state == "indexed" and row.state == "indexed", (out, row)
        assert row.attempts == 0 and row.short_reads == 0 and row.error is None and row.note is None
        assert row.frames == len(rt.store.ids_for_video(row.video_id)) > 10
    finally:
        rt.close()
