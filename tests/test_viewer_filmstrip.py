"""The viewer's filmstrip (/api/frames) and the MCP app's clip frames read only the span asked.

A real embedded Chroma store holds a 'long' video (600 frames of 1 s, synthetic vectors; the long-
video limit lowered to 100 frames). A filmstrip request must give what the old whole-video code gave
(frames overlapping [start, end), at most FILMSTRIP_MAX, the frame covering `start` included)
without ever loading the video's frames whole and reading no more frames than the span holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from daemon.web import FILMSTRIP_MAX, viewer_routes
from reelcore.channels.visual.embedder import Embedder
from reelcore.query import frames as frames_mod
from reelcore.query.search import SearchService
from reelcore.storage.catalog import Catalog
from reelcore.storage.store import FrameRecord, FrameStore, Thumbnails, frame_id

from .conftest import tiny_settings
from .store_support import count_window_reads

N = 600


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    settings = tiny_settings(tmp_path_factory.mktemp("filmstrip"))
    catalog = Catalog(settings.catalog_path)
    embedder = Embedder(settings.model)
    store = FrameStore(settings, "filmstrip-test")
    service = SearchService(settings, catalog, store, embedder, Thumbnails(settings.thumbs_dir))
    rec = catalog.add("/footage/long.mp4", "/footage", 1, 0.0, "long")
    vecs = np.random.default_rng(1).normal(size=(N, 8)).astype(np.float32)
    store.upsert([FrameRecord(frame_id(rec.video_id, float(i)), rec.video_id, rec.path, float(i), float(i + 1), 0)
                  for i in range(N)], vecs)
    catalog.update(rec.path, state="indexed", frames=N, duration=float(N))
    yield service
    store.close()
    catalog.close()


def _old(frames: list[FrameRecord], start: float, end: float | None) -> list[float]:
    """What daemon/web.py computed from the whole video before."""
    end = frames[-1].t_end if end is None else end
    inside = [f for f in frames if f.t_end > start and f.t_start < end] or frames[:1]
    return [f.t_start for f in inside[::max(1, -(-len(inside) // FILMSTRIP_MAX))]]


@pytest.fixture
def windowed(svc, monkeypatch):
    """Long-video path on; every store read counted; a whole-video load fails the test."""
    monkeypatch.setattr(frames_mod, "LONG_VIDEO_FRAMES", 100)
    monkeypatch.setattr(frames_mod, "NEAR_FRAMES", 2)
    svc._frames.clear()
    whole_frames = svc.store.video_frames(svc.catalog.get("/footage/long.mp4").video_id)[0]
    reads = count_window_reads(monkeypatch, svc, "loaded a long video's frames whole for a filmstrip")
    return whole_frames, reads


@pytest.mark.parametrize(("start", "end", "most_read"), [
    (300.0, 312.0, 12),      # a 12-s span: 12 frames read
    (300.5, 310.5, 11),      # starts inside a frame: the covering one comes from a small window
    (123.4, 123.401, 5),     # the viewer's "frame at t" request: one frame
    (700.0, 710.0, 32),      # past the end: the last frame (frames_near widens its window x8 to reach it)
])
def test_api_frames_reads_only_the_span(svc, windowed, start, end, most_read):
    whole_frames, reads = windowed
    app = Starlette(routes=viewer_routes(lambda: svc, svc.settings))
    vid = svc.catalog.get("/footage/long.mp4").video_id
    with TestClient(app) as client:
        r = client.get("/api/frames", params={"video": vid, "start": start, "end": end})
    assert r.status_code == 200, r.text
    got = [f["start"] for f in r.json()["frames"]]
    expected = _old(whole_frames, start, end)
    if start > N:
        expected = [whole_frames[-1].t_start]  # the last frame now, not the first
    assert got == expected
    assert reads and max(reads) <= most_read


def test_filmstrip_of_a_short_video_matches_the_whole_video_answer(svc, monkeypatch):
    svc._frames.clear()
    rec = svc.catalog.get("/footage/long.mp4")  # 600 frames is 'short' with the default limit
    whole_frames = svc.store.video_frames(rec.video_id)[0]
    for start, end in ((0.0, None), (10.2, 40.7), (599.5, 600.0)):
        got = [f.t_start for f in frames_mod.filmstrip(svc, rec, start, end, FILMSTRIP_MAX)]
        assert got == _old(whole_frames, start, end)
