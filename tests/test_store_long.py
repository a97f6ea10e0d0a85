"""Long videos in the real embedded Chroma store: every whole-video read and write is paged.

Embedded Chroma 1.5.9 cannot return the metadata of more than ~32k records in one get ("too many
SQL variables") nor write more than 5,461 in one call, so a video of 9 h or more at 1 fps could not
be moved, copied or read whole. These tests write frames straight through FrameStore (random
vectors) and use the same calls discovery and the read side use.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from reelcore.storage.reuse import copy_video
from reelcore.storage.store import FrameRecord, FrameStore, Thumbnails, frame_id

from .conftest import tiny_settings
from .store_support import stored_ids


def _fill(store: FrameStore, video_id: str, n: int, dim: int = 8, path: str = "/footage/day.mp4") -> np.ndarray:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    # Written in reverse time order: reads must sort by time, not by insertion.
    recs = [FrameRecord(frame_id(video_id, float(i)), video_id, path, float(i), float(i + 1), i // 600)
            for i in reversed(range(n))]
    store.upsert(recs, vecs[::-1])
    return vecs


@pytest.mark.slow
def test_video_over_32k_frames_moves_copies_reads_and_deletes(tmp_path):
    """40,000 frames (11 h at 1 fps) in one video: set_path, video_frames, frames_between, the
    copy reuse and delete_video all work (each of the first four raised InternalError before)."""
    n = 40_000
    store = FrameStore(tiny_settings(tmp_path / "data"), "long-test")
    thumbs_root = tmp_path / "thumbs"
    try:
        vecs = _fill(store, "longvid", n)
        assert store.count() == n

        store.set_path("longvid", "/footage/moved/day.mp4")
        frames, got = store.video_frames("longvid", with_vectors=True)
        assert len(frames) == n and [f.t_start for f in frames] == [float(i) for i in range(n)]
        assert {f.path for f in frames} == {"/footage/moved/day.mp4"}
        assert np.allclose(got, vecs, atol=1e-6)

        assert len(store.frames_between("longvid")[0]) == n  # an unbounded window is the whole video

        copied = copy_video(store, Thumbnails(thumbs_root), "longvid", n, "copyvid", "/footage/copy.mp4")
        assert copied is not None and copied.frames == n and copied.last_t_start == n - 1
        cframes, cvecs = store.video_frames("copyvid", with_vectors=True)
        assert len(cframes) == n and {f.path for f in cframes} == {"/footage/copy.mp4"}
        assert np.allclose(cvecs, vecs, atol=1e-6)

        store.delete_video("longvid")
        assert store.ids_for_video("longvid") == [] and len(store.ids_for_video("copyvid")) == n
    finally:
        store.close()


def test_paged_reads_and_updates_cover_every_frame(tmp_path):
    """With a page of 7 frames, a 50-frame video is read, moved and copied in many pages: nothing is
    lost or duplicated and the time order holds (the paging logic itself, fast)."""
    store = FrameStore(tiny_settings(tmp_path / "data"), "page-test")
    store.page = 7
    try:
        vecs = _fill(store, "vid", 50)
        _fill(store, "other", 10, path="/footage/other.mp4")
        store.set_path("vid", "/new.mp4")
        frames, got = store.video_frames("vid", with_vectors=True)
        assert [f.t_start for f in frames] == [float(i) for i in range(50)]
        assert {f.path for f in frames} == {"/new.mp4"} and np.allclose(got, vecs, atol=1e-6)
        window, wv = store.frames_between("vid", 10, 30, with_vectors=True)
        assert [f.t_start for f in window] == [float(i) for i in range(10, 30)] and len(wv) == 20
        assert {f.path for f in store.video_frames("other")[0]} == {"/footage/other.mp4"}
        assert len(stored_ids(store, page=7)) == 60
    finally:
        store.close()


def test_copy_of_indexed_file_reuses_vectors_page_by_page(tmp_path, footage):
    """Discovery's copy reuse through the real indexer, with a store page far smaller than the
    video: the copy gets every frame vector and thumbnail of the source."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(footage / "asl_book.mkv", root / "a.mkv")
    rt = Runtime.open(tiny_settings(tmp_path / "data"), "test")
    try:
        plan = rt.reconciler().reconcile(Root(root))
        for r in plan.todo:
            rt.indexer().index(r)
        src = rt.catalog.get(str(root / "a.mkv"))
        assert src.state == "indexed" and src.frames > 1
        rt.store.page = 1
        shutil.copy(root / "a.mkv", root / "b.mkv")
        plan = rt.reconciler().reconcile(Root(root))
        assert plan.todo == [] and plan.copied == [str(root / "b.mkv")]
        copy = rt.catalog.get(str(root / "b.mkv"))
        assert copy.state == "indexed" and copy.frames == src.frames
        _, v_src = rt.store.video_frames(src.video_id, with_vectors=True)
        frames, v_copy = rt.store.video_frames(copy.video_id, with_vectors=True)
        assert np.allclose(v_src, v_copy, atol=1e-6) and {f.path for f in frames} == {copy.path}
        assert copy.cursor_ms == round(frames[-1].t_start * 1000)
        assert all(rt.thumbs.path(copy.video_id, f.t_start).exists() for f in frames)
    finally:
        rt.close()
