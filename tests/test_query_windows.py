"""Long videos are read in windows, with the same answers as reading them whole.

A real embedded Chroma store holds one 'long' video (600 frames of 1 s, synthetic vectors, a
planted 40-frame stretch that matches a text query) and a short one. With the long-video limit
lowered, score_timeline, get_frame, similar_moments and find_scenes must give exactly what the
whole-video path gives, while never loading the video's full vector set (store.video_frames) and
reading at most one window of frames per store call.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reelcore.channels.visual.embedder import Embedder
from reelcore.query import frames as frames_mod
from reelcore.query import scenes as scenes_mod
from reelcore.query.search import SearchService
from reelcore.storage.catalog import Catalog
from reelcore.storage.store import FrameRecord, FrameStore, Thumbnails, frame_id

from .conftest import tiny_settings
from .store_support import count_window_reads

LONG, SHORT = 600, 20
PLANT = range(300, 340)
QUERY = "a red car"


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    data = tmp_path_factory.mktemp("windows")
    settings = tiny_settings(data)
    catalog = Catalog(settings.catalog_path)
    embedder = Embedder(settings.model)
    store = FrameStore(settings, embedder.identity)
    thumbs = Thumbnails(settings.thumbs_dir)
    service = SearchService(settings, catalog, store, embedder, thumbs)
    q = service.query_vector(QUERY)
    rng = np.random.default_rng(3)
    pic = Image.new("RGB", (8, 8))
    for name, n in (("long.mp4", LONG), ("short.mp4", SHORT)):
        rec = catalog.add(f"/footage/{name}", "/footage", 1, 0.0, name)
        vecs = rng.normal(size=(n, q.size)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        if name == "long.mp4":
            for i in PLANT:
                vecs[i] = q + 0.05 * vecs[i]
        recs = [FrameRecord(frame_id(rec.video_id, float(i)), rec.video_id, rec.path, float(i), float(i + 1),
                            i // 100) for i in range(n)]
        store.upsert(recs, vecs)
        for r in recs:
            thumbs.save(r.video_id, r.t_start, pic)
        catalog.update(rec.path, state="indexed", frames=n, duration=float(n))
    yield service
    store.close()
    catalog.close()


def _windowed(monkeypatch, svc):
    """Lower the limits so the 600-frame video takes the windowed path; count store reads."""
    monkeypatch.setattr(frames_mod, "LONG_VIDEO_FRAMES", 100)
    monkeypatch.setattr(frames_mod, "CHUNK_FRAMES", 64)
    monkeypatch.setattr(frames_mod, "NEAR_FRAMES", 2)
    monkeypatch.setattr(scenes_mod, "WINDOW_PAD_FRAMES", 5)
    reads = count_window_reads(monkeypatch, svc, "loaded a long video's full vector set")
    svc._frames.clear()
    return reads


def _answers(svc):
    tl, png = svc.timeline("long.mp4", QUERY, max_points=100, peaks=3)
    frames = [svc.frame("long.mp4", t) for t in (0.0, 0.5, 319.2, 599.9)]
    similar = svc.similar("long.mp4", 310.0, limit=5)
    scenes = svc.scenes([QUERY], threshold_z=4.0)
    return tl, png, frames, similar, scenes


def test_windowed_reads_give_the_same_answers(svc, monkeypatch):
    # Few candidate hits (in both runs): the scene windows must grow to cover the planted stretch.
    monkeypatch.setattr(scenes_mod, "CANDIDATE_HITS", 3)
    full = _answers(svc)
    reads = _windowed(monkeypatch, svc)
    assert _answers(svc) == full
    assert reads and max(reads) <= 64  # one window at a time, never the 600 frames
    tl, _, frames, _, scenes = full
    assert tl.frames == LONG and tl.peaks[0].time in PLANT and frames[2].start == 319.0
    long_scenes = [s for s in scenes.scenes if s.name == "long.mp4"]
    # The planted stretch is found whole although the hits and first windows covered only part of it.
    assert long_scenes and long_scenes[0].start <= PLANT.start and long_scenes[0].end >= PLANT.stop


def test_windowed_time_checks_still_know_the_end(svc, monkeypatch):
    _windowed(monkeypatch, svc)
    with pytest.raises(ValueError, match="past the end"):
        svc.frame("long.mp4", 5000.0)
    assert svc.frame("long.mp4", 600.2).start == 599.0


def test_frame_spans_read_one_window(svc, monkeypatch):
    """Filmstrips and frame lists (web viewer, preview_clip) can ask for a window's frames only."""
    reads = _windowed(monkeypatch, svc)
    rec = svc.resolve_video("long.mp4")
    spans = svc.frame_spans(rec, 100.0, 110.0)
    assert [f.t_start for f in spans] == [float(t) for t in range(100, 110)] and reads == [10]
    short = svc.resolve_video("short.mp4")
    monkeypatch.undo()
    assert [f.t_start for f in svc.frame_spans(short, 5.0, 7.0)] == [5.0, 6.0]
