"""Issue 12: a folder of short clips keeps both cores busy across files (index.prefetch_next).

File N+1's try starts (attempt counted, probe, its own decoder into its own queue) when file N's
decoder has finished, while N's last batches embed. These tests pin what must not change: the
same frames as a serial run, the per-file order (N+1 stores nothing before N is indexed), kill -9
with two files in flight, and a stop during the head start giving N+1's attempt back.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime

from .conftest import REPO, TINY_MODEL, tiny_env, tiny_settings
from .store_support import stored_ids
from .synthetic import BLUE, GREEN, RED, YELLOW, make_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three short real H.264 clips (moving picture: every 1 s sample is kept)."""
    root = tmp_path_factory.mktemp("short-clips")
    for name, colour in (("a.mp4", RED), ("b.mp4", GREEN), ("c.mp4", BLUE)):
        make_clip(root / name, [(6.0, colour), (6.0, YELLOW)], motion=True)
    return root


def _open(data: Path, prefetch: bool) -> Runtime:
    return Runtime.open(tiny_settings(data, model={**TINY_MODEL, "batch_size": 4},
                                      index={"prefetch_next": prefetch}), "test")


def _keys(rt: Runtime) -> set[tuple[str, str]]:
    """(path, frame time) of every stored vector, checked against the catalog's frame counts."""
    ids = stored_ids(rt.store)
    rows = rt.catalog.all()
    by_video = {r.video_id: r.path for r in rows}
    keys = {(by_video[i.split(":")[0]], i.split(":")[1]) for i in ids}
    assert len(keys) == len(ids) and sum(r.frames for r in rows) == len(ids)
    return keys


def _index_folder(root: Path, data: Path, prefetch: bool) -> set[tuple[str, str]]:
    rt = _open(data, prefetch)
    try:
        outs = rt.indexer().index_all(rt.reconciler().reconcile(Root(root)).todo)
        assert [o.state for o in outs] == ["indexed"] * 3
        return _keys(rt)
    finally:
        rt.close()


def test_overlapped_run_stores_exactly_the_serial_runs_frames(clips, tmp_path):
    serial = _index_folder(clips, tmp_path / "serial", prefetch=False)
    overlapped = _index_folder(clips, tmp_path / "overlap", prefetch=True)
    assert overlapped == serial and len(serial) >= 3 * 10


def test_next_file_decodes_before_the_last_batch_of_this_one_is_committed(clips, tmp_path):
    """Event log from the real calls: thumbnail writes (decoder threads), store upserts (commit
    thread), 'indexed' (Tries.finish). The first file's commits wait for the second file's first
    decoded frame (at most 5 s once): overlapped, that frame comes while they wait; serial, it
    cannot, and the order assertion fails."""
    rt = _open(tmp_path / "data", prefetch=True)
    try:
        todo = rt.reconciler().reconcile(Root(clips)).todo
        first, second = todo[0], todo[1]
        log: list[tuple[str, str]] = []
        second_decoding = threading.Event()
        waited = threading.Event()
        save, upsert, finish = rt.thumbs.save, rt.store.upsert, None

        def logged_save(video_id, t, image):
            path = {r.video_id: r.path for r in todo}[video_id]
            log.append(("decode", path))
            if path == second.path:
                second_decoding.set()
            return save(video_id, t, image)

        def logged_upsert(metas, vectors):
            path = metas[0].path
            if path == first.path and not waited.is_set():
                second_decoding.wait(5.0)
                waited.set()
            out = upsert(metas, vectors)
            log.append(("commit", path))
            return out

        rt.thumbs.save, rt.store.upsert = logged_save, logged_upsert
        idx = rt.indexer()
        finish = idx.tries.finish

        def logged_finish(rec, produced, report):
            out = finish(rec, produced, report)
            log.append(("indexed", rec.path))
            return out

        idx.tries.finish = logged_finish
        outs = idx.index_all(todo[:2])
        assert [o.state for o in outs] == ["indexed", "indexed"]
    finally:
        rt.close()
    last_commit_first = max(i for i, e in enumerate(log) if e == ("commit", first.path))
    first_decode_second = log.index(("decode", second.path))
    assert first_decode_second < last_commit_first, log
    # ...and the order guarantee stays per file: the second file stores nothing before the first
    # is marked indexed (its vectors all stored, its cursor at the end).
    assert log.index(("indexed", first.path)) < log.index(("commit", second.path))


def test_kill_9_with_two_files_in_flight_then_rerun_gives_the_clean_set(clips, tmp_path):
    clean = _index_folder(clips, tmp_path / "clean", prefetch=False)
    data = tmp_path / "killed"
    # Killed right after the second file's head start: its attempt counted and its decoder running,
    # while the first file's last batches embed (the first file is not marked indexed yet).
    env = tiny_env(data, REELFIND_MODEL__BATCH_SIZE="4",
                   REELFIND_TEST_CRASH="reelcore.channels.visual.indexer:Indexer.prepare:after@2")
    r = subprocess.run([sys.executable, "-m", "tests.crashpoints", "--", "index", str(clips)], env=env,
                       cwd=REPO, capture_output=True, text=True, timeout=180)
    assert r.returncode == -9 and "crashpoint reached" in r.stderr, r.stderr[-2000:]
    with sqlite3.connect(data / "catalog.sqlite3") as db:
        rows = dict(db.execute("SELECT path, state FROM files").fetchall())
    assert sorted(rows.values()) == ["indexing", "indexing", "pending"], rows  # two files in flight
    env.pop("REELFIND_TEST_CRASH")
    r = subprocess.run([sys.executable, "-m", "reelfind.cli", "index", str(clips)], env=env, cwd=REPO,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    rt = _open(data, prefetch=True)
    try:
        assert _keys(rt) == clean  # nothing lost, nothing duplicated
        assert {r.state for r in rt.catalog.all()} == {"indexed"}
    finally:
        rt.close()


def test_a_stop_during_the_head_start_gives_the_next_files_attempt_back(clips, tmp_path):
    rt = _open(tmp_path / "data", prefetch=True)
    try:
        todo = rt.reconciler().reconcile(Root(clips)).todo
        second = todo[1]
        stop = threading.Event()
        idx = rt.indexer()
        real_prepare = idx.prepare
        seen: dict[str, object] = {}

        def prepare(rec, stop_):
            prep = real_prepare(rec, stop_)
            if rec.path == second.path:  # the head start: counted at its start, decoder running
                seen["prep"] = prep
                seen["attempts_during"] = rt.catalog.get(rec.path).attempts
                stop.set()
            return prep

        idx.prepare = prepare
        outs = idx.index_all(todo, stop)
        assert [o.state for o in outs] == ["interrupted"]
        prep = seen["prep"]
        assert prep.decoder is not None and prep.error is None and not prep.decoder.is_alive()
        assert seen["attempts_during"] == 1
        after = rt.catalog.get(second.path)
        assert after.attempts == 0 and after.frames == 0 and after.cursor_ms is None
        assert rt.catalog.get(todo[0].path).attempts == 0
        assert not any(i.startswith(second.video_id) for i in stored_ids(rt.store))
        # The rerun indexes everything from where it stopped.
        assert [o.state for o in rt.indexer().index_all(
            rt.reconciler().reconcile(Root(clips)).todo)] == ["indexed"] * 3
    finally:
        rt.close()
