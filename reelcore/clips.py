"""Preview clips of a moment: at most MAX_SPAN seconds, at most 480p, made on demand and cached.

An MCP App runs in a sandboxed iframe that cannot reach the service, so it cannot stream the
original file; it gets a short re-encoded clip through MCP instead. The clip is H.264 in MP4
(libx264 comes with the PyAV wheel) when the build has an H.264 encoder, else VP8 in WebM.
No audio: a preview of what is in the picture.

Clips are cached under data_dir/clips, keyed by the file's identity (video id, size, mtime) and
the span, and the folder is trimmed to a size cap (oldest first).

Clips have a queue of their own, never the query side's work slots: one encode at a time (they are
CPU-bound), at most MAX_WAITING requests waiting for it (more get "busy, try again" at once), and a
stall guard: an encode whose source delivers no frame for STALL_SECONDS (a file on a hung share)
is abandoned with a clear error, its partial file never becomes a clip, and the encoder is free
for the next request. The source is opened once and checked by its descriptor
(reelcore.ingest.filetype.open_servable): a file swapped for a symlink is never read out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np

from .ingest.filetype import open_servable
from .inputs import QueryError, resolve_video
from .storage.catalog import Catalog, FileRecord

log = logging.getLogger(__name__)

MAX_SPAN = 15.0  # seconds of clip
MAX_HEIGHT = 480
MAX_FPS = 25.0
CACHE_BYTES = 256 * 1024 * 1024
MAX_CLIP_BYTES = 12 * 1024 * 1024  # a clip bigger than this is refused (it travels as base64 through MCP)
LOCK_WAIT = 60.0  # a request waits this long for the encoder slot, then gets a "busy" error
MAX_WAITING = 2  # requests that may wait for the encoder; more are told "busy" at once
STALL_SECONDS = 20.0  # an encode whose source yields no frame for this long is abandoned
STALE_TMP = 600.0  # a partial clip file this old belongs to no running encode (a crash left it)
# One encode at a time per process (HTTP viewer and MCP tool share it): encodes are CPU-bound.
_ENCODE_LOCK = threading.Lock()
_WAITING = threading.BoundedSemaphore(MAX_WAITING + 1)  # the one encoding + those waiting


class ClipError(QueryError):
    """A preview clip cannot be made; the message says why (shown to the caller as is)."""


@dataclass(frozen=True)
class Clip:
    path: Path
    mime_type: str
    start: float
    end: float
    width: int
    height: int
    frames: int
    cached: bool
    cpu_seconds: float  # process CPU time the encode took (0 for a cache hit)


def _encoder() -> tuple[str, str, str]:
    """(codec, container format, mime type) of the best encoder this PyAV build has."""
    for codec, fmt, mime in (("libx264", "mp4", "video/mp4"), ("libopenh264", "mp4", "video/mp4"),
                             ("libvpx", "webm", "video/webm"), ("libvpx-vp9", "webm", "video/webm")):
        try:
            av.codec.Codec(codec, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        return codec, fmt, mime
    raise ClipError("this PyAV build has no H.264 or VP8/VP9 encoder: preview clips are not available")


class ClipMaker:
    """Makes and caches preview clips of catalogued, indexed videos (addressed by video id)."""

    def __init__(self, catalog: Catalog, cache_dir: Path, cache_bytes: int = CACHE_BYTES) -> None:
        self.catalog = catalog
        self.cache_dir = cache_dir
        self.cache_bytes = cache_bytes

    def clip(self, video: str, start: float, end: float | None = None) -> Clip:
        """The clip of `video` from `start` to `end` (default start + MAX_SPAN, cut at the video's end)."""
        rec = resolve_video(self.catalog, video)
        start, end = self._span(rec, start, end)
        codec, fmt, mime = _encoder()
        target = self.cache_dir / f"{self._key(rec, start, end, codec)}.{fmt}"
        if not _WAITING.acquire(blocking=False):
            raise ClipError("busy: other preview clips are queued; try again in a few seconds")
        try:
            if not _ENCODE_LOCK.acquire(timeout=LOCK_WAIT):
                raise ClipError("busy making other preview clips; try again in a moment")
            try:
                if target.is_file():
                    os.utime(target)
                    w, h, n = _meta(target)
                    return Clip(target, mime, start, end, w, h, n, True, 0.0)
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                fd = open_servable(rec.path, rec.root)
                if fd is None:
                    raise ClipError(f"{rec.path} is not there any more (moved, deleted or its share is offline)")
                t0 = time.process_time()
                w, h, n = self._encode(rec, fd, start, end, codec, fmt, target)
                cpu = time.process_time() - t0
                self._trim(keep=target)
            finally:
                _ENCODE_LOCK.release()
        finally:
            _WAITING.release()
        log.info("preview clip %s %.2f-%.2f s: %dx%d, %d frames, %.1f KB, %.2f CPU s", rec.path, start, end,
                 w, h, n, target.stat().st_size / 1024, cpu)
        return Clip(target, mime, start, end, w, h, n, False, cpu)

    @staticmethod
    def _span(rec: FileRecord, start: float, end: float | None) -> tuple[float, float]:
        for name, v in (("start", start), ("end", end)):
            if v is not None and (not isinstance(v, int | float) or v != v or v in (float("inf"), float("-inf"))):
                raise ClipError(f"{name} must be a number of seconds (got {v!r})")
        if start < 0:
            raise ClipError(f"start must be 0 or more seconds (got {start})")
        duration = rec.duration
        if duration is not None and start >= duration:
            raise ClipError(f"start {start} s is past the end of {rec.path} ({duration:.2f} s long)")
        if end is None:
            end = start + MAX_SPAN
        if end <= start:
            raise ClipError(f"end ({end} s) must be after start ({start} s)")
        if end - start > MAX_SPAN + 0.01:
            raise ClipError(f"a preview clip is at most {MAX_SPAN:.0f} s; {end - start:.1f} s was asked for "
                            f"({start:.1f}-{end:.1f} s): ask for a shorter span, e.g. from the moment's peak")
        if duration is not None:
            end = min(end, duration)
        return round(float(start), 3), round(float(end), 3)

    @staticmethod
    def _key(rec: FileRecord, start: float, end: float, codec: str) -> str:
        ident = f"{rec.video_id}|{rec.size}|{rec.mtime}|{start:.3f}|{end:.3f}|{codec}|{MAX_HEIGHT}"
        return f"{rec.video_id}-{round(start * 1000)}-{hashlib.sha1(ident.encode()).hexdigest()[:12]}"

    def _encode(self, rec: FileRecord, fd: int, start: float, end: float, codec: str, fmt: str,
                target: Path) -> tuple[int, int, int]:
        """Encode from the open descriptor `fd` (closed here) in a thread watched for stalls."""
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        job = _EncodeJob(fd, start, end, codec, fmt, tmp)
        job.start()
        try:
            n, w, h = job.wait(STALL_SECONDS, rec.path)
            if n == 0:
                raise ClipError(f"no frames could be decoded from {rec.path} between {start:.2f} and {end:.2f} s")
            if tmp.stat().st_size > MAX_CLIP_BYTES:
                raise ClipError(f"the preview clip would be {tmp.stat().st_size // 1024} KB; the limit is "
                                f"{MAX_CLIP_BYTES // 1024} KB: ask for a shorter span")
            tmp.replace(target)
            return w, h, n
        except av.error.FFmpegError as e:
            raise ClipError(f"cannot make a preview of {rec.path}: {str(e).splitlines()[0][:200]}") from None
        finally:
            if job.is_alive():  # abandoned: it removes its own partial file when its read returns
                job.abandoned.set()
            else:
                tmp.unlink(missing_ok=True)

    def _trim(self, keep: Path) -> None:
        """Drop the least recently used clips (never `keep`) until the cache is under its size cap."""
        try:
            entries = [p for p in self.cache_dir.iterdir() if p.is_file()]
            files = [(p.stat().st_mtime, p.stat().st_size, p) for p in entries if not p.name.startswith(".")]
            # Partial files of encodes that a crash (or kill -9) interrupted: nothing will finish them.
            stale = [p for p in entries if p.name.endswith(".tmp") and time.time() - p.stat().st_mtime > STALE_TMP]
        except OSError:
            return
        for p in stale:
            p.unlink(missing_ok=True)
        total = sum(s for _, s, _ in files)
        for _, size, p in sorted(files):
            if total <= self.cache_bytes:
                break
            if p == keep:
                continue
            p.unlink(missing_ok=True)
            total -= size


class _EncodeJob(threading.Thread):
    """One transcode in a daemon thread, so a read that hangs (a hard NFS mount) cannot hold the
    requester or the encoder slot: `wait` gives up once no frame has come for `stall` seconds."""

    def __init__(self, fd: int, start: float, end: float, codec: str, fmt: str, out: Path) -> None:
        super().__init__(name="reelfind-clip", daemon=True)
        self.fd, self.start_s, self.end_s, self.codec, self.fmt, self.out = fd, start, end, codec, fmt, out
        self.progress = time.monotonic()
        self.abandoned = threading.Event()
        self.result: tuple[int, int, int] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with os.fdopen(self.fd, "rb") as src:
                self.result = _transcode(src, self.start_s, self.end_s, self.codec, self.fmt, self.out, self._tick)
        except BaseException as e:  # handed to the requester by wait()
            self.error = e
        finally:
            if self.abandoned.is_set():
                self.out.unlink(missing_ok=True)

    def _tick(self) -> None:
        self.progress = time.monotonic()

    def wait(self, stall: float, name: str) -> tuple[int, int, int]:
        while self.is_alive():
            self.join(min(1.0, stall / 4))
            if self.is_alive() and time.monotonic() - self.progress > stall:
                log.warning("preview clip of %s abandoned: no frame from the source for %.0f s", name, stall)
                raise ClipError(f"the source stopped delivering frames for {stall:.0f} s ({name}; is its share "
                                "hanging?): no preview clip; try again later")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def _transcode(src: Any, start: float, end: float, codec: str, fmt: str, out: Path,
               tick: Callable[[], None] = lambda: None) -> tuple[int, int, int]:
    """Decode [start, end) of `src` (a path or an open binary file) and encode it to `out`;
    returns (frames, width, height). `tick` is called for every decoded frame (the stall guard)."""
    with av.open(src, metadata_errors="ignore") as inp:
        vs = next((s for s in inp.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)
        if vs is None or vs.codec_context is None:
            raise ClipError(f"{getattr(src, 'name', src)} has no decodable video stream")
        vs.thread_type = "AUTO"
        tb = vs.time_base
        origin = inp.start_time / 1e6 if inp.start_time is not None else float((vs.start_time or 0) * tb)
        if start > 0.5:
            inp.seek(int((start + origin) / tb), stream=vs, backward=True, any_frame=False)
        with av.open(str(out), mode="w", format=fmt) as dst:
            enc = None
            n = 0
            last_t = -1.0
            w = h = 0
            rot = 0
            for frame in inp.decode(vs):
                tick()
                if frame.pts is None:
                    continue
                t = float(frame.pts * tb) - origin
                if t < start - 1e-3:
                    continue
                if t >= end:
                    break
                if last_t >= 0 and t - last_t < 1.0 / MAX_FPS - 1e-4:
                    continue
                if enc is None:
                    rot = int(round(frame.rotation / 90.0)) * 90 % 360
                    dw, dh = (frame.height, frame.width) if rot in (90, 270) else (frame.width, frame.height)
                    scale = min(1.0, MAX_HEIGHT / dh)
                    w, h = _even(dw * scale), _even(dh * scale)
                    enc = dst.add_stream(codec, rate=int(MAX_FPS))
                    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
                    enc.time_base = Fraction(1, 1000)
                    enc.codec_context.time_base = Fraction(1, 1000)
                    if codec == "libx264":
                        enc.options = {"preset": "veryfast", "crf": "28", "movflags": "+faststart"}
                    elif codec.startswith("libvpx"):
                        enc.options = {"crf": "33", "b": "800k", "deadline": "realtime", "cpu-used": "8"}
                if rot:
                    sw, sh = (h, w) if rot in (90, 270) else (w, h)
                    rgb = frame.to_ndarray(format="rgb24", width=sw, height=sh)
                    img = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(rgb, rot // 90)), format="rgb24")
                    img = img.reformat(format="yuv420p")
                else:
                    img = frame.reformat(width=w, height=h, format="yuv420p")
                img.pts = int(round((t - start) * 1000))
                img.time_base = Fraction(1, 1000)
                for pkt in enc.encode(img):
                    dst.mux(pkt)
                n += 1
                last_t = t
            if enc is not None:
                for pkt in enc.encode(None):
                    dst.mux(pkt)
    return n, w, h


def _meta(path: Path) -> tuple[int, int, int]:
    """(width, height, frames) of a cached clip."""
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            return s.width, s.height, int(s.frames or 0)
    except (av.error.FFmpegError, IndexError):
        return 0, 0, 0
