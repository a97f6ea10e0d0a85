"""Preview clips (reelcore.clips): real PyAV decode of real footage, re-encoded, checked by decoding
the result; cache, size cap and the clear errors for spans, non-indexed and vanished files."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import av
import pytest

from reelcore import clips as clips_mod
from reelcore.clips import MAX_HEIGHT, MAX_SPAN, ClipError, ClipMaker
from reelcore.inputs import QueryError
from reelcore.storage.catalog import Catalog
from tests.conftest import FOOTAGE
from tests.test_daemon_support import wait_for
from tests.viewer_support import ARTIFACTS


def _catalogued(tmp_path: Path, name: str, duration: float, state: str = "indexed") -> tuple[Catalog, str, Path]:
    if not (FOOTAGE / name).is_file():
        pytest.skip(f"shared footage not found at {FOOTAGE}")
    src = Path(shutil.copy(FOOTAGE / name, tmp_path / name))
    cat = Catalog(tmp_path / "catalog.sqlite3")
    st = src.stat()
    rec = cat.add(str(src), str(tmp_path), st.st_size, st.st_mtime, "fp-" + name)
    cat.update(str(src), state=state, frames=10 if state == "indexed" else 0, duration=duration)
    return cat, rec.video_id, src


def _probe(path: Path) -> tuple[int, int, int, float]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        tb = c.streams.video[0].time_base
        return frames[0].width, frames[0].height, len(frames), float((frames[-1].pts - frames[0].pts) * tb)


def test_clip_is_small_playable_and_cached(tmp_path: Path) -> None:
    """A 720p VP8 span becomes a <=480p H.264/VP8 clip of about the asked length; the second ask is a hit."""
    cat, vid, _ = _catalogued(tmp_path, "big_buck_bunny_0_30.webm", 30.0)
    maker = ClipMaker(cat, tmp_path / "clips")
    t0 = time.monotonic()
    clip = maker.clip(vid, 10.0, 10.0 + MAX_SPAN)
    wall = time.monotonic() - t0
    w, h, n, span = _probe(clip.path)
    assert (w, h) == (clip.width, clip.height) and h <= MAX_HEIGHT and h == 480 and w == 854
    assert n == clip.frames and n > 100 and span == pytest.approx(MAX_SPAN, abs=0.3)
    assert clip.mime_type in ("video/mp4", "video/webm") and not clip.cached
    again = maker.clip(vid, 10.0, 10.0 + MAX_SPAN)
    assert again.cached and again.path == clip.path and again.cpu_seconds == 0.0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cost = {"clip_seconds": clip.end - clip.start, "cpu_seconds": round(clip.cpu_seconds, 3),
            "cpu_per_clip_second": round(clip.cpu_seconds / (clip.end - clip.start), 3), "wall_seconds": round(wall, 2),
            "size_kb": clip.path.stat().st_size // 1024, "source": "big_buck_bunny_0_30.webm 1280x720 VP8",
            "output": f"{w}x{h} {clip.mime_type}"}
    (ARTIFACTS / "clip_cost.json").write_text(json.dumps(cost, indent=1))
    print("preview clip cost:", cost)


def test_rotated_video_clip_is_upright(tmp_path: Path) -> None:
    """A phone clip with a 90 degree display matrix comes out portrait, as players show it."""
    cat, vid, _ = _catalogued(tmp_path, "bee_rotate90.mp4", 4.038)
    clip = ClipMaker(cat, tmp_path / "clips").clip(vid, 0.0, 2.0)
    w, h, _, _ = _probe(clip.path)
    assert h > w and h == 480


def test_clip_errors_are_clear(tmp_path: Path) -> None:
    cat, vid, src = _catalogued(tmp_path, "friday.mp4", 6.166)
    maker = ClipMaker(cat, tmp_path / "clips")
    with pytest.raises(ClipError, match="at most 15 s"):
        maker.clip(vid, 0.0, 3600.0)
    with pytest.raises(ClipError, match="past the end"):
        maker.clip(vid, 60.0)
    with pytest.raises(ClipError, match="must be after start"):
        maker.clip(vid, 3.0, 2.0)
    with pytest.raises(ClipError, match="number of seconds"):
        maker.clip(vid, float("nan"))
    short = maker.clip(vid, 5.0)  # default span, cut at the end of the video
    assert short.end == pytest.approx(6.166)
    src.unlink()
    with pytest.raises(ClipError, match="not there any more"):
        maker.clip(vid, 1.0, 2.0)
    (tmp_path / "p").mkdir()
    cat2, pending, _ = _catalogued(tmp_path / "p", "asl_book.mkv", 3.6, state="pending")
    with pytest.raises(QueryError, match="not indexed yet"):
        ClipMaker(cat2, tmp_path / "clips").clip(pending, 0.0, 1.0)
    with pytest.raises(QueryError, match="no indexed video"):
        maker.clip("no-such-file.mp4", 0.0, 1.0)


def test_cache_is_size_capped(tmp_path: Path) -> None:
    """Past the cap the least recently used clips go; the one just made always stays."""
    cat, vid, _ = _catalogued(tmp_path, "sintel_excerpt_a.mp4", 8.0)
    maker = ClipMaker(cat, tmp_path / "clips", cache_bytes=1)
    a = maker.clip(vid, 0.0, 1.0)
    b = maker.clip(vid, 2.0, 3.0)
    assert b.path.is_file() and not a.path.exists()
    assert [p.name for p in (tmp_path / "clips").iterdir()] == [b.path.name]


# -- the clip queue, its stall guard and its cache (issue 19, items 6 and 8) --------------------------
def _hung_transcode(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Every encode writes its partial file, reads one frame, then hangs in the next read (a source
    on a hard NFS mount whose server went away) until `release` is set."""
    release, started = threading.Event(), threading.Event()

    def hung(src, start, end, codec, fmt, out, tick=lambda: None):
        out.write_bytes(b"partial")
        tick()
        started.set()
        release.wait(60)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(clips_mod, "_transcode", hung)
    return release, started


def test_an_encode_whose_source_hangs_is_abandoned_and_frees_the_encoder(tmp_path: Path, monkeypatch) -> None:
    cat, vid, _ = _catalogued(tmp_path, "big_buck_bunny_0_30.webm", 30.0)
    maker = ClipMaker(cat, tmp_path / "clips")
    monkeypatch.setattr(clips_mod, "STALL_SECONDS", 0.5)
    real = clips_mod._transcode
    release, _ = _hung_transcode(monkeypatch)
    try:
        with pytest.raises(ClipError, match="stopped delivering frames"):
            maker.clip(vid, 0.0, 2.0)
        monkeypatch.setattr(clips_mod, "_transcode", real)
        ok = maker.clip(vid, 5.0, 7.0)  # the encoder is free again while the hung read still waits
        assert not ok.cached and ok.frames > 0
    finally:
        release.set()
    # The abandoned encode never becomes a clip, and removes its partial file when its read returns.
    wait_for(lambda: not list((tmp_path / "clips").glob(".*.tmp")), 10, what="the partial file removed")
    assert [p.name for p in (tmp_path / "clips").iterdir()] == [ok.path.name]


def test_clip_requests_beyond_the_queue_are_told_busy_at_once(tmp_path: Path, monkeypatch) -> None:
    cat, vid, _ = _catalogued(tmp_path, "big_buck_bunny_0_30.webm", 30.0)
    maker = ClipMaker(cat, tmp_path / "clips")
    release, started = _hung_transcode(monkeypatch)
    results: list[BaseException | None] = []

    def ask(t: float) -> None:
        try:
            maker.clip(vid, t, t + 1.0)
            results.append(None)
        except BaseException as e:
            results.append(e)

    threads = [threading.Thread(target=ask, args=(float(t),), daemon=True) for t in range(clips_mod.MAX_WAITING + 1)]
    try:
        for t in threads:
            t.start()
        wait_for(started.is_set, 10, what="one encode running")
        wait_for(lambda: clips_mod._WAITING._value == 0, 10, what="the queue full")
        with pytest.raises(ClipError, match="busy"):
            maker.clip(vid, 20.0, 21.0)
    finally:
        release.set()
    for t in threads:
        t.join(30)
    assert len(results) == clips_mod.MAX_WAITING + 1  # each queued request got an answer (an error here)


def test_a_changed_source_gets_a_new_clip_not_the_cached_one(tmp_path: Path) -> None:
    cat, vid, src = _catalogued(tmp_path, "big_buck_bunny_0_30.webm", 30.0)
    maker = ClipMaker(cat, tmp_path / "clips")
    first = maker.clip(vid, 1.0, 2.0)
    assert maker.clip(vid, 1.0, 2.0).cached
    cat.update(str(src), mtime=src.stat().st_mtime + 10)  # re-indexed after a change: same id, new mtime
    again = maker.clip(vid, 1.0, 2.0)
    assert not again.cached and again.path != first.path
    cat.update(str(src), size=src.stat().st_size + 1)
    assert not maker.clip(vid, 1.0, 2.0).cached


def test_partial_files_left_by_a_crash_are_cleared_and_live_ones_kept(tmp_path: Path) -> None:
    cat, vid, _ = _catalogued(tmp_path, "big_buck_bunny_0_30.webm", 30.0)
    cache = tmp_path / "clips"
    cache.mkdir()
    stale, live = cache / ".x.mp4.123.456.tmp", cache / ".y.mp4.123.789.tmp"
    stale.write_bytes(b"x" * 1000)
    live.write_bytes(b"y")
    old = time.time() - clips_mod.STALE_TMP - 60
    os.utime(stale, (old, old))
    ClipMaker(cat, cache).clip(vid, 0.0, 1.0)
    assert not stale.exists() and live.exists()


def test_a_source_swapped_for_a_symlink_after_the_check_is_never_read(tmp_path: Path, monkeypatch) -> None:
    """The clip is made from the file that was checked, even if its name points elsewhere now."""
    cat, vid, src = _catalogued(tmp_path, "big_buck_bunny_0_30.webm", 30.0)
    secret = tmp_path / "secret.txt"
    secret.write_text("token = 'TOP-SECRET'\n")
    real_realpath = clips_mod.os.path.realpath
    swapped: list[bool] = []

    def realpath_then_swap(p, *args, **kwargs):
        out = real_realpath(p, *args, **kwargs)
        if os.fspath(p) == str(src.parent) and not swapped:
            src.rename(src.with_suffix(".moved"))
            src.symlink_to(secret)
            swapped.append(True)
        return out

    monkeypatch.setattr(clips_mod.os.path, "realpath", realpath_then_swap)
    clip = ClipMaker(cat, tmp_path / "clips").clip(vid, 1.0, 2.0)
    assert swapped and clip.frames > 0 and b"TOP-SECRET" not in clip.path.read_bytes()


def test_concurrent_requests_for_one_span_encode_it_once(tmp_path: Path) -> None:
    cat, vid, _ = _catalogued(tmp_path, "big_buck_bunny_0_30.webm", 30.0)
    maker = ClipMaker(cat, tmp_path / "clips")
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(maker.clip(vid, 3.0, 5.0))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(got) == 3 and sorted(c.cached for c in got) == [False, True, True]
    assert len({c.path for c in got}) == 1
    assert [p.name for p in (tmp_path / "clips").iterdir()] == [got[0].path.name]  # no partial files left
