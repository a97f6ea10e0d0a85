"""Issue 10 item 3: a kill between the catalog update and the vector/thumbnail work of a move, a
copy or a delete heals at the next reconcile: no ghost vectors that still show in results, no
thumbnails left for ids nobody refers to.

Each test runs the real `reelfind index` and SIGKILLs it at one exact call (tests/crashpoints.py),
then runs `reelfind index` again and checks Chroma, the thumbnails folder and the catalog. The
store work is recorded in the catalog (table store_ops) in the same transaction as the catalog
change, and replayed at the start of every reconcile.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from reelcore.ingest.discovery import Root
from reelcore.query.search import SearchService
from reelcore.runtime import Runtime

from .conftest import FOOTAGE, REPO, TINY_MODEL, tiny_env, tiny_settings
from .store_support import stored_ids


def _index(root: Path, data: Path, crash: str | None = None) -> None:
    """`reelfind index root` SIGKILLed at `crash` (a real process); without one, the same work in
    this process (a reconcile and the indexing of what it found: quicker than a fresh process)."""
    if crash is None:
        rt = Runtime.open(tiny_settings(data, model={**TINY_MODEL, "batch_size": 4}), "test")
        try:
            for rec in rt.reconciler().reconcile(Root(root)).todo:
                assert rt.indexer().index(rec).state == "indexed"
        finally:
            rt.close()
        return
    env = tiny_env(data, REELFIND_MODEL__BATCH_SIZE="4", REELFIND_TEST_CRASH=crash)
    r = subprocess.run([sys.executable, "-m", "tests.crashpoints", "--", "index", str(root)], env=env, cwd=REPO,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == -9 and "crashpoint reached" in r.stderr, r.stderr[-2000:]


def _consistent(data: Path) -> dict[str, str]:
    """Assert the store, the thumbnails and the catalog agree; return {video_id: path} of rows."""
    rt = Runtime.open(tiny_settings(data), "test")
    try:
        rows = rt.catalog.all()
        assert rt.catalog.pending_ops() == []
        live = {r.video_id: r.path for r in rows}
        live.update({r.stale_video_id: r.path for r in rows if r.stale_video_id})
        ids = stored_ids(rt.store)
        stored = {i.split(":")[0] for i in ids}
        assert stored <= set(live), f"ghost vectors of {stored - set(live)}"
        thumbs = {p.name for p in rt.thumbs.root.iterdir()} if rt.thumbs.root.exists() else set()
        assert thumbs <= set(live), f"thumbnails left for {thumbs - set(live)}"
        for vid, path in live.items():
            frames, _ = rt.store.video_frames(vid)
            assert {f.path for f in frames} <= {path}, (vid, {f.path for f in frames}, path)
        # ...and the other way: an indexed file keeps every vector and thumbnail its row counts
        # (an empty store must not pass).
        for r in rows:
            if r.state == "indexed":
                frames, _ = rt.store.video_frames(r.video_id)
                assert len(frames) == r.frames > 0, (r.path, len(frames), r.frames)
                assert all(rt.thumbs.path(r.video_id, f.t_start).exists() for f in frames), r.path
        # What a search shows exists on disk and is catalogued.
        svc = SearchService(rt.settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        for m in svc.search_text("a person", limit=20):
            assert m.path in live.values() and Path(m.path).exists(), m.path
        return {r.video_id: r.path for r in rows}
    finally:
        rt.close()


def _setup(tmp_path: Path, *names: str) -> tuple[Path, Path]:
    root = tmp_path / "root"
    root.mkdir()
    for n in names:
        shutil.copy(FOOTAGE / n, root / n)
    data = tmp_path / "data"
    _index(root, data)
    return root, data


def test_kill_after_a_move_is_recorded_then_moved_back_leaves_no_ghost_path(tmp_path):
    """Killed inside the move's store work (after the vectors' path was changed). The old order
    (vectors first, catalog after) left the catalog at the old path; a file then moved back to that
    path looked unchanged, and its vectors kept pointing at a path that no longer exists."""
    root, data = _setup(tmp_path, "asl_book.mkv")
    (root / "asl_book.mkv").rename(root / "moved.mkv")
    _index(root, data, crash="reelcore.storage.store:FrameStore.set_path:after")
    (root / "moved.mkv").rename(root / "asl_book.mkv")  # moved back before the next run
    _index(root, data)
    rows = _consistent(data)
    assert sorted(rows.values()) == [str(root / "asl_book.mkv")]


def _vectors(data: Path) -> dict[str, list[float]]:
    rt = Runtime.open(tiny_settings(data), "test")
    try:
        got = rt.store._collection.get(include=["embeddings"])
        return {i: [round(float(x), 6) for x in v] for i, v in zip(got["ids"], got["embeddings"], strict=True)}
    finally:
        rt.close()


def test_kill_right_after_the_catalog_move_heals(tmp_path):
    root, data = _setup(tmp_path, "asl_book.mkv")
    before = _vectors(data)
    (root / "asl_book.mkv").rename(root / "moved.mkv")
    _index(root, data, crash="reelcore.storage.catalog:Catalog.move:after")
    _index(root, data)
    moved = str(root / "moved.mkv")
    assert sorted(_consistent(data).values()) == [moved]
    # A move re-embeds nothing and loses nothing: the same vectors, now under the new path...
    assert _vectors(data) == before and len(before) >= 3
    rt = Runtime.open(tiny_settings(data), "test")
    try:
        rec = rt.catalog.get(moved)
        assert rec.state == "indexed" and rec.frames == len(before)
        frames, vecs = rt.store.video_frames(rec.video_id, with_vectors=True)
        assert {f.path for f in frames} == {moved}
        # ...and search finds it there (its own frame as the query: the top hit, whatever the model).
        svc = SearchService(rt.settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        top = svc.search_vector(vecs[len(vecs) // 2], limit=5)
        assert top and top[0].path == moved and top[0].video_id == rec.video_id
    finally:
        rt.close()


def test_kill_after_a_deleted_file_left_the_catalog_removes_its_vectors_and_thumbnails(tmp_path):
    root, data = _setup(tmp_path, "asl_book.mkv", "asl_walk.mkv")
    (root / "asl_walk.mkv").unlink()
    _index(root, data, crash="reelcore.storage.catalog:Catalog.remove:after")
    _index(root, data)
    assert sorted(_consistent(data).values()) == [str(root / "asl_book.mkv")]


def test_kill_after_a_file_changed_twice_leaves_no_orphan_of_the_middle_version(tmp_path):
    """v1 indexed; v2 half indexed (killed after its first batch); v3 arrives: the catalog stops
    referring to v2 and the scan is killed right after that update. The old code deleted v2's
    vectors only after that update, so they stayed for good, found by searches under the file's path."""
    root, data = _setup(tmp_path, "asl_book.mkv")
    target = root / "asl_book.mkv"
    shutil.copy(FOOTAGE / "car-detection.mp4", target)  # v2
    _index(root, data, crash="reelcore.channels.visual.indexer:Indexer._commit:after")
    shutil.copy(FOOTAGE / "asl_walk.mkv", target)  # v3
    _index(root, data, crash="reelcore.storage.catalog:Catalog.update:after:fingerprint,stale_video_id")
    _index(root, data)
    rows = _consistent(data)
    assert list(rows.values()) == [str(target)]


def test_kill_inside_a_copy_heals_without_ghosts(tmp_path):
    root, data = _setup(tmp_path, "asl_book.mkv")
    shutil.copy(root / "asl_book.mkv", root / "copy.mkv")
    _index(root, data, crash="reelcore.storage.store:FrameStore.upsert:after")  # copies stored, row still pending
    _index(root, data)
    rows = _consistent(data)
    assert sorted(rows.values()) == [str(root / "asl_book.mkv"), str(root / "copy.mkv")]
    rt = Runtime.open(tiny_settings(data), "test")
    try:
        copy = rt.catalog.get(str(root / "copy.mkv"))
        assert copy.state == "indexed" and len(rt.store.ids_for_video(copy.video_id)) == copy.frames > 0
    finally:
        rt.close()
