"""Unit tests of the MCP server's parts: score statistics, scenes and peaks, the heatmap, untrusted
inputs (video names, base64 images), the bearer-token middleware and the stdio mode decision."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from daemon.httpguard import BearerAuth
from mcp_server.providers import LocalProvider, ServiceUnavailable
from mcp_server.server import _image
from reelcore.config import Settings
from reelcore.endpoint import service_url
from reelcore.inputs import QueryError, decode_image, file_uri, glob_match, resolve_video
from reelcore.lock import DataDirLock
from reelcore.query.heatmap import colormap, render_strip
from reelcore.query.scoring import (
    Background,
    background_of,
    bin_timeline,
    find_peaks,
    find_runs,
    frame_at,
    snap_to_shots,
)
from reelcore.query.search import relevance_floor
from reelcore.storage.catalog import FAILED, INDEXED, Catalog

# -- scoring ----------------------------------------------------------------------------------------


def test_background_is_robust_to_a_minority_of_matches():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.20, 0.02, 950), np.full(50, 0.35)])
    bg = background_of(scores, index_size=1000)
    assert bg.median == pytest.approx(0.20, abs=0.005) and bg.sigma == pytest.approx(0.02, rel=0.2)
    assert bg.z(0.35) > 6 and bg.label(float(bg.z(0.35))) == "good"
    assert bg.label(1.0) == "none" and bg.label(None) == "none"
    assert bg.label(bg.good_z - 0.1) == "weak"


def test_good_match_threshold_grows_with_the_index():
    small, big = Background(0, 1, 100, 50), Background(0, 1, 100, 1_000_000)
    assert small.good_z == 3.0 and big.good_z == pytest.approx(np.sqrt(2 * np.log(1_000_000)))


def test_background_never_divides_by_zero():
    bg = background_of(np.zeros(100), 100)
    assert bg.sigma >= 0.01 and bg.z(0.0) == 0
    assert background_of(np.zeros(0), 0).sample_size == 0


def test_relevance_floor_is_half_maximum_capped_at_weak():
    assert relevance_floor(8.0) == 4.0
    assert relevance_floor(4.0) == 2.0
    assert relevance_floor(1.0) == 0.5  # nothing good: keep the frames near the best one


def _frames(n: int, dt: float = 1.0):
    ts = np.arange(n) * dt
    return ts, ts + dt


def test_runs_join_across_small_gaps_only():
    ts, te = _frames(12)
    ok = np.array([1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0], bool)
    runs = find_runs(ts, te, ok, gap=1.0)
    assert [(r.first, r.last, r.start, r.end) for r in runs] == [(0, 3, 0, 4), (8, 9, 8, 10)]
    assert find_runs(ts, te, np.zeros(12, bool), 1.0) == []


def test_snap_widens_to_shot_bounds_where_most_of_the_shot_passes():
    ts, te = _frames(10)
    shots = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    ok = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], bool)  # 3 of shot 1's 4 frames
    (run,) = find_runs(ts, te, ok, 0.0)
    snapped = snap_to_shots(run, shots, ok, ts, te)
    assert (snapped.start, snapped.end, snapped.snapped) == (3, 7, True)
    ok2 = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0], bool)  # 1 of 4: stays as it is
    (run2,) = find_runs(ts, te, ok2, 0.0)
    assert (snap_to_shots(run2, shots, ok2, ts, te).start, snap_to_shots(run2, shots, ok2, ts, te).end) == (5, 6)
    single = np.zeros(10, int)  # no detected cuts: never widen to the whole video
    assert snap_to_shots(run, single, ok, ts, te) == run


def test_peaks_are_local_maxima_apart():
    ts, _ = _frames(20)
    s = np.zeros(20)
    s[[3, 4, 12, 15]] = [0.9, 0.8, 0.7, 0.95]
    assert find_peaks(ts, s, 3, 2.0) == [15, 3, 12]
    assert find_peaks(ts, s, 3, 4.0) == [15, 3]  # 12 is too close to 15
    assert find_peaks(ts, s, 0, 1.0) == [] and find_peaks(ts[:0], s[:0], 3, 1.0) == []


def test_bin_timeline_keeps_each_bins_best():
    ts, te = _frames(100, 0.5)
    s = np.zeros(100)
    s[37] = 1.0
    pts = bin_timeline(ts, te, s, 10)
    assert len(pts) == 10 and max(p[2] for p in pts) == 1.0
    assert [p for p in pts if p[2] == 1.0][0][0] <= ts[37] < [p for p in pts if p[2] == 1.0][0][1]
    assert len(bin_timeline(ts, te, s, 200)) == 100


def test_frame_at_picks_the_covering_frame():
    ts = np.array([0.0, 1.0, 4.0])
    te = np.array([1.0, 4.0, 6.0])
    assert [frame_at(ts, te, t) for t in (0.0, 0.99, 1.0, 3.9, 4.0, 5.99, 6.2)] == [0, 0, 1, 1, 2, 2, 2]


# -- heatmap ----------------------------------------------------------------------------------------


def test_colormap_dark_to_yellow():
    low, high = colormap(np.array([0.0, 1.0]))
    assert tuple(low) == (68, 1, 84) and tuple(high) == (253, 231, 37)
    assert colormap(np.array([np.nan, -1, 2])).shape == (3, 3)


def test_heatmap_png_layout():
    png = render_strip([0, 10, 20], [10, 20, 30], [0.0, 1.0, 0.2], 30.0, peaks=[15.0], width=300, height=20)
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.size == (300, 7 + 20 + 16)
    rgb = np.asarray(im.convert("RGB"))
    assert tuple(rgb[17, 150]) == (253, 231, 37) and tuple(rgb[17, 50]) == (68, 1, 84)
    assert tuple(rgb[0, 150]) == (255, 255, 255)  # peak marker above 15 s
    render_strip([], [], [], 0.0)  # empty video: still a valid image


# -- untrusted inputs -------------------------------------------------------------------------------


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite3")
    for path, state, frames in [("/media/a/trailer.mp4", INDEXED, 10), ("/media/b/clip.mov", INDEXED, 4),
                                ("/media/c/clip.mov", INDEXED, 5), ("/media/d/new.mp4", "pending", 0),
                                ("/media/d/broken.mp4", FAILED, 0)]:
        cat.add(path, path.rsplit("/", 2)[0], 1, 1.0, path)
        cat.update(path, state=state, frames=frames, error="corrupt" if state == FAILED else None)
    yield cat
    cat.close()


def test_resolve_video_by_id_path_uri_and_unique_name(catalog):
    rec = catalog.get("/media/a/trailer.mp4")
    for name in (rec.video_id, "/media/a/trailer.mp4", "trailer.mp4", "a/trailer.mp4", " trailer.mp4 ",
                 "file:///media/a/trailer.mp4", "/media/a/./trailer.mp4"):
        assert resolve_video(catalog, name).path == rec.path, name


@pytest.mark.parametrize(("name", "message"), [
    ("", "video is empty"),
    ("clip.mov", "matches 2 videos"),
    ("../../etc/passwd", "'..' is not allowed"),
    ("/media/a/../../etc/passwd", "'..' is not allowed"),
    ("/etc/passwd", "not an indexed video"),
    ("file:///etc/passwd", "not an indexed video"),
    ("nothing.mp4", "no indexed video is called"),
    ("new.mp4", "not indexed yet (state: pending)"),
    ("broken.mp4", "could not be indexed: corrupt"),
    ("a\x00b", "not a valid name"),
])
def test_resolve_video_rejects(catalog, name, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_video(catalog, name)


def _b64(im: Image.Image, fmt: str) -> str:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def test_decode_image_accepts_common_formats_and_data_urls():
    im = Image.new("RGBA", (20, 10), (255, 0, 0, 128))
    for fmt in ("PNG", "WEBP", "GIF", "BMP"):
        assert decode_image(_b64(im, fmt)).mode == "RGB"
    jpeg = _b64(im.convert("RGB"), "JPEG")
    assert decode_image(f"data:image/jpeg;base64,{jpeg}").size == (20, 10)
    assert decode_image(jpeg[:20] + "\n" + jpeg[20:]).size == (20, 10)


@pytest.mark.parametrize(("data", "message"), [
    ("", "empty"),
    ("%%%%", "not valid base64"),
    (base64.b64encode(b"GIF89a but not really").decode(), "does not decode to an image"),
    (base64.b64encode(b"\x00" * 100).decode(), "does not decode to an image"),
    ("data:image/png,notbase64", "must be base64-encoded"),
])
def test_decode_image_rejects(data, message):
    with pytest.raises(QueryError, match=message):
        decode_image(data)


@pytest.mark.parametrize("fmt", ["TIFF", "PPM", "ICO", "EPS"])
def test_decode_image_parses_only_the_documented_formats(fmt):
    # Untrusted bytes never reach PIL's other parsers (EPS would be handed to Ghostscript).
    buf = io.BytesIO()
    try:
        Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, fmt)
    except OSError:  # EPS writing needs nothing, but keep the test independent of optional tools
        pytest.skip(f"PIL cannot write {fmt} here")
    with pytest.raises(QueryError, match="does not decode to an image"):
        decode_image(base64.b64encode(buf.getvalue()).decode())


def test_tool_images_are_read_only_from_the_thumbnail_folder(tmp_path):
    thumbs = tmp_path / "thumbs"
    (thumbs / "abc").mkdir(parents=True)
    ok = thumbs / "abc" / "1000.jpg"
    ok.write_bytes(b"jpeg")
    secret = tmp_path / "secret" / "0.jpg"
    secret.parent.mkdir()
    secret.write_bytes(b"secret")
    (thumbs / "abc" / "2000.jpg").symlink_to(secret)
    assert _image(str(ok), thumbs) == b"jpeg"
    # A path built from store metadata such as video_id "../secret" must not be read.
    assert _image(str(thumbs / ".." / "secret" / "0.jpg"), thumbs) is None
    assert _image(str(thumbs / "abc" / "2000.jpg"), thumbs) is None
    assert _image("/etc/passwd", thumbs) is None


def test_decode_image_refuses_pixel_bombs():
    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, "PNG")  # tiny file, 64 megapixels
    with pytest.raises(QueryError, match="too large"):
        decode_image(base64.b64encode(buf.getvalue()).decode())


def test_file_uri_is_playable_and_escaped():
    assert file_uri("/m/a b#1.mp4", 12.5, 15) == "file:///m/a%20b%231.mp4#t=12.5,15"
    assert file_uri("/m/x.mp4", 0.0) == "file:///m/x.mp4#t=0"
    assert file_uri("/m/x.mp4") == "file:///m/x.mp4"


def test_glob_matches_path_or_name():
    assert glob_match("/footage/2024/a.mp4", "*.mp4") and glob_match("/footage/2024/a.mp4", "/footage/2024/*")
    assert not glob_match("/footage/2024/a.mp4", "*.mov")


# -- HTTP auth and process model ----------------------------------------------------------------------


def test_bearer_auth_middleware():
    app = Starlette(routes=[Route("/mcp", lambda r: PlainTextResponse("ok"), methods=["GET", "POST"])])
    client = TestClient(BearerAuth(app, "s3cret"))
    assert client.get("/mcp").status_code == 401
    r = client.post("/mcp", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong bearer token"
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="reelfind"'
    assert client.get("/mcp", headers={"Authorization": "Basic s3cret"}).status_code == 401
    assert client.get("/mcp", headers={"Authorization": "Bearer s3cret"}).text == "ok"
    assert client.get("/mcp", headers={"Authorization": "bearer  s3cret "}).text == "ok"


def test_stdio_mode_follows_the_lock_and_the_configured_url(tmp_path):
    s = Settings(data_dir=tmp_path)
    assert service_url(s) is None  # nobody runs: open the index locally
    with DataDirLock(s.lock_path) as lock:
        lock.acquire("index")
        assert service_url(s) is None  # a batch indexer is no service to bridge to
    with DataDirLock(s.lock_path) as lock:
        lock.acquire("serve", "http://127.0.0.1:9999/mcp")
        assert service_url(s) == "http://127.0.0.1:9999/mcp"
    assert service_url(s) is None  # the lock dies with its owner
    remote = Settings(data_dir=tmp_path, server={"url": "https://nas.local:8765/mcp", "token": "t"})
    assert service_url(remote) == "https://nas.local:8765/mcp"


def test_local_provider_explains_a_busy_index(tmp_path):
    s = Settings(data_dir=tmp_path)
    with DataDirLock(s.lock_path) as lock:
        lock.acquire("index")
        with pytest.raises(ServiceUnavailable, match=r"in use by pid \d+ \(index\).*try again"):
            LocalProvider(s).search_service()


def _guarded_service_app(tmp_path, host="127.0.0.1", token=None):
    from types import SimpleNamespace

    from daemon.app import build_app

    server = {"host": host} | ({"token": token} if token else {})
    svc = SimpleNamespace(settings=Settings(data_dir=tmp_path, server=server),
                          status=lambda: {"state": "running"},
                          enqueue_paths=lambda paths: {"accepted": len(paths), "rejected": []})
    return build_app(svc)


def test_loopback_service_refuses_dns_rebinding_and_cross_site_requests(tmp_path):
    client = TestClient(_guarded_service_app(tmp_path), base_url="http://127.0.0.1:8765")
    assert client.get("/status").json() == {"state": "running"}
    assert client.get("/status", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/status", headers={"Host": "[::1]:8765"}).status_code == 200
    # DNS rebinding: the page's own host name arrives in Host.
    assert client.get("/status", headers={"Host": "evil.example:8765"}).status_code == 403
    # A page on another site posting to the local service.
    r = client.post("/enqueue", json={"paths": ["/x"]}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert client.post("/enqueue", json={"paths": ["/x"]}, headers={"Origin": "null"}).status_code == 403
    # A "simple" cross-site POST (text/plain, no preflight) is not taken as JSON.
    r = client.post("/enqueue", content=b'{"paths": ["/x"]}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    assert client.post("/enqueue", json={"paths": ["/x"]}).status_code == 202


def test_non_loopback_service_relies_on_the_token_not_the_host(tmp_path):
    client = TestClient(_guarded_service_app(tmp_path, "0.0.0.0", "s3cret"), base_url="http://nas.local:8765")
    assert client.get("/status").status_code == 401
    assert client.get("/status", headers={"Authorization": "Bearer s3cret"}).status_code == 200
