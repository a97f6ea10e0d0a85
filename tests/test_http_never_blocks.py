"""The service's HTTP side never blocks and never serves what it did not check (issue 19, items 5, 8, 9).

Real viewer routes over a real catalog and a real embedded Chroma store, driven through Starlette's
TestClient (its own event loop thread, like uvicorn's); a real uvicorn server for the heartbeat.
A hung share is a file-system call on one path that waits on an Event; a symlink swap happens
inside the window between the check and the read that the old route had.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import daemon.web as web
from daemon.http_server import HttpServer
from daemon.web import viewer_routes
from mcp_server.providers import ServiceUnavailable
from reelcore import clips as clips_mod
from reelcore.channels.visual.embedder import Embedder
from reelcore.ingest import filetype
from reelcore.query.search import SearchService
from reelcore.storage.catalog import Catalog
from reelcore.storage.store import FrameStore, Thumbnails

from .conftest import FOOTAGE, tiny_settings
from .test_daemon_support import wait_for

CLIP = "car-detection.mp4"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, str, Path]]:
    """A catalogued, indexed copy of a real clip inside its root, and a client of the viewer routes."""
    if not (FOOTAGE / CLIP).is_file():
        pytest.skip(f"shared footage not found at {FOOTAGE}")
    settings = tiny_settings(tmp_path / "data")
    root = tmp_path / "root"
    root.mkdir()
    video = Path(shutil.copy(FOOTAGE / CLIP, root / CLIP))
    catalog = Catalog(settings.catalog_path)
    store = FrameStore(settings, "http-test")
    svc = SearchService(settings, catalog, store, Embedder(settings.model), Thumbnails(settings.thumbs_dir))
    st = video.stat()
    rec = catalog.add(str(video), str(root), st.st_size, st.st_mtime, "fp")
    catalog.update(str(video), state="indexed", frames=10, duration=30.0)
    app = Starlette(routes=viewer_routes(lambda: svc, settings, status_fn=lambda: {"state": "watching"}))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        yield client, rec.video_id, video
    store.close()
    catalog.close()


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except Exception as e:  # reported by the test through `out`
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _hang_fs_calls_on(monkeypatch: pytest.MonkeyPatch, path: Path) -> tuple[threading.Event, threading.Event]:
    """stat/lstat/open of `path` block until `release` is set (a hard NFS mount whose server is gone);
    `entered` is set once a call is blocked."""
    release, entered = threading.Event(), threading.Event()
    target = str(path)
    for name in ("stat", "lstat", "open"):
        real = getattr(os, name)

        def hung(p: Any, *args: Any, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            if isinstance(p, str | os.PathLike) and os.fspath(p) == target:
                entered.set()
                release.wait(60)
            return _real(p, *args, **kwargs)

        monkeypatch.setattr(os, name, hung)
    return release, entered


def test_a_symlink_swapped_in_after_the_check_is_never_served(served, monkeypatch, tmp_path) -> None:
    """Someone who can write to the share swaps the video for a symlink to a secret right after the
    route has checked it (the moment the old route re-opened the name): the bytes served are the
    video's, never the secret's."""
    client, vid, video = served
    secret = tmp_path / "config.toml"
    secret.write_bytes(b"[server]\ntoken = 'TOP-SECRET'\n")
    original = video.read_bytes()[:4096]
    real_realpath = filetype.os.path.realpath
    swapped = []

    def realpath_then_swap(p: Any, *args: Any, **kwargs: Any) -> str:
        out = real_realpath(p, *args, **kwargs)
        if os.fspath(p) == str(video.parent) and not swapped:  # the last step of the check: the root
            video.rename(video.with_suffix(".moved"))
            video.symlink_to(secret)
            swapped.append(True)
        return out

    monkeypatch.setattr(filetype.os.path, "realpath", realpath_then_swap)
    r = client.get(f"/media/{vid}", headers={"Range": "bytes=0-4095"})
    assert swapped, "the check never looked at the root"
    assert b"TOP-SECRET" not in r.content
    assert r.status_code == 206 and r.content == original
    # And once swapped, the next request is refused outright.
    assert client.get(f"/media/{vid}").status_code == 410


def test_status_keeps_answering_beside_a_media_request_on_a_hung_share(served, monkeypatch) -> None:
    client, vid, video = served
    release, entered = _hang_fs_calls_on(monkeypatch, video)
    try:
        media, media_out = _in_thread(lambda: client.get(f"/media/{vid}"))
        wait_for(entered.is_set, 30, what="the media request blocked on the hung file")
        status, status_out = _in_thread(lambda: client.get("/api/status"))
        wait_for(lambda: "value" in status_out or "error" in status_out, 20,
                 what="/api/status answering while a media request hangs")
        assert status_out["value"].status_code == 200 and media.is_alive()
    finally:
        release.set()
    media.join(30)
    assert media_out["value"].status_code == 200


def test_media_requests_beyond_the_file_threads_are_refused_at_once(served, monkeypatch) -> None:
    client, vid, video = served
    monkeypatch.setattr(web, "MEDIA_FILE_THREADS", 2)
    release, entered = _hang_fs_calls_on(monkeypatch, video)
    try:
        hung = [_in_thread(lambda: client.get(f"/media/{vid}")) for _ in range(2)]
        wait_for(entered.is_set, 30, what="media requests blocked on the hung file")
        r = wait_for(lambda: (x := client.get(f"/media/{vid}")).status_code == 503 and x, 20,
                     what="a third media request refused while two hang")
        assert r.headers["Retry-After"] and "busy" in r.json()["error"]
    finally:
        release.set()
    for t, out in hung:
        t.join(30)
        assert out["value"].status_code == 200


@pytest.mark.parametrize("route", ["/media/{vid}", "/frame/{vid}?t=1", "/clip/{vid}?start=0&end=2"])
def test_index_errors_on_media_routes_are_503_not_500(tmp_path, route) -> None:
    settings = tiny_settings(tmp_path / "data")

    def unavailable() -> SearchService:
        raise ServiceUnavailable("the index is being opened by another process")

    with TestClient(Starlette(routes=viewer_routes(unavailable, settings))) as client:
        r = client.get(route.format(vid="0123456789abcdef"))
    assert r.status_code == 503, r.text
    assert "not available" in r.json()["error"]


def test_the_heartbeat_notices_an_event_loop_that_stopped_answering() -> None:
    """A handler that blocks the event loop (a file-system call on a hung share, say): the
    supervisor's beats stop being run, so `answering` turns False and the watchdog pings stop."""
    unblock, blocked = threading.Event(), threading.Event()

    async def stuck(_: Any) -> PlainTextResponse:
        blocked.set()
        unblock.wait(60)  # deliberately on the loop: what the service must never do
        return PlainTextResponse("done")

    http = HttpServer(Starlette(routes=[Route("/stuck", stuck)]), "127.0.0.1", 0)
    assert http.start()
    try:
        http.beat()
        wait_for(lambda: http.answering(0.5), 10, what="beats run by a free loop")
        import httpx

        t, _ = _in_thread(lambda: httpx.get(f"http://127.0.0.1:{http.port}/stuck", timeout=60))
        wait_for(blocked.is_set, 10, what="the loop blocked")
        wait_for(lambda: (http.beat(), not http.answering(0.5))[1], 10, what="the stuck loop noticed")
        unblock.set()
        wait_for(lambda: (http.beat(), http.answering(0.5))[1], 10, what="the loop answering again")
        t.join(10)
    finally:
        unblock.set()
        http.stop()


def test_queries_never_wait_behind_preview_clips(served, monkeypatch) -> None:
    """Six clip requests whose source hangs (one encoding, two queued, three told busy): the JSON
    API keeps answering, because clips wait in their own queue, not in the query slots."""
    client, vid, _ = served
    release, started = threading.Event(), threading.Event()

    def hung(src, start, end, codec, fmt, out, tick=lambda: None):
        started.set()
        release.wait(60)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(clips_mod, "_transcode", hung)
    try:
        clips = [_in_thread(lambda t=t: client.get(f"/clip/{vid}?start={t}&end={t + 1}")) for t in range(6)]
        wait_for(started.is_set, 30, what="a clip encode hanging")
        links, out = _in_thread(lambda: client.get("/api/links", params={"video": vid, "start": 1}))
        wait_for(lambda: "value" in out or "error" in out, 20, what="/api/links answering beside hung clips")
        assert out["value"].status_code == 200 and "media_url" in out["value"].json()
        assert any(t.is_alive() for t, _ in clips)
    finally:
        release.set()
    for t, _ in clips:
        t.join(60)


@pytest.mark.parametrize("points", ["0", "-5", "9", "5001"])
def test_timeline_points_out_of_bounds_are_a_clear_400(served, points) -> None:
    """Checked once, in the core (SearchService.timeline): the same bounds as the MCP schema."""
    client, vid, _ = served
    r = client.get("/api/timeline", params={"video": vid, "q": "a car", "max_points": points})
    assert r.status_code == 400, r.text
    assert "max_points must be an integer from 10 to 5000" in r.json()["error"]


def test_the_file_list_pages_with_the_servers_limit(tmp_path) -> None:
    """The index page asks for no fixed limit: the server answers pages of at most query.max_limit."""
    settings = tiny_settings(tmp_path / "data")
    settings = settings.model_copy(update={"query": settings.query.model_copy(update={"max_limit": 2})})
    catalog = Catalog(settings.catalog_path)
    for k in range(5):
        catalog.add(f"/footage/{k}.mp4", "/footage", 1, 0.0, f"fp{k}")
    svc = SearchService(settings, catalog, FrameStore(settings, "pages"), Embedder(settings.model),
                        Thumbnails(settings.thumbs_dir))
    with TestClient(Starlette(routes=viewer_routes(lambda: svc, settings))) as client:
        pages = []
        offset = 0
        while True:
            r = client.get("/api/videos", params={"offset": offset})
            assert r.status_code == 200, r.text
            body = r.json()
            pages.append([v["name"] for v in body["videos"]])
            offset += body["limit"]
            if offset >= body["total"]:
                break
    assert body["limit"] == 2 and pages == [["0.mp4", "1.mp4"], ["2.mp4", "3.mp4"], ["4.mp4"]]
    catalog.close()
