"""PyAV decode, frame sampling and hard-cut detection.

One sequential decode per file (seeking per sample loses with long GOPs). Every decoded frame is
shrunk to a 32x32 grey thumbnail inside the decoder (cheap) for cut and duplicate detection; only
sampled frames are converted to an RGB image, straight at the target size.

Times are seconds from the start of the file as a player shows it (pts minus the container's
start_time), so they can be handed to a player or `ffmpeg -ss` as they are.

Why one module of ~480 lines: probing, the sampling loop, cut/duplicate detection and the
timestamp rules share the same private helpers and one decode pass; split apart, one algorithm
would be read across files. The guards around a decode live in decodeguard.py and ioerrors.py.
"""

from __future__ import annotations

import math
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
import av.stream
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from ..config import SamplingSettings
from .ioerrors import transient_os_error

DecodeMode = Literal["all", "nonref", "nonkey", "auto"]

_GREY = 32  # side of the grey thumbnail used for cut / duplicate detection
_EPS = 1e-6
_SKIP = {"all": "DEFAULT", "nonref": "NONREF", "nonkey": "NONKEY"}
_TRANSPOSE = {
    90: Image.Transpose.ROTATE_90,  # PIL rotates counter-clockwise, like the display matrix
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


class DecodeError(Exception):
    """The file cannot be decoded at all; str(e) is a one-line reason for logs and the catalog."""


@dataclass(frozen=True)
class VideoInfo:
    duration: float | None  # seconds; None if unknown
    width: int  # display size: rotation and sample aspect ratio applied
    height: int
    rotation: int  # counter-clockwise degrees applied to make the picture upright: 0/90/180/270
    fps: float | None
    codec: str
    has_audio: bool


@dataclass
class SampledFrame:
    t_start: float  # seconds from start of video
    t_end: float  # == t_start of the next yielded frame; the last one ends at the end of the video
    shot: int  # 0-based shot index, +1 at each detected hard cut
    image: Image.Image  # RGB, upright, shorter side == thumbnail_size (downscale only)
    is_cut: bool  # first frame after a detected hard cut
    t_frame: float = 0.0  # presentation time of this picture (t_start of the first frame is 0.0)


@dataclass
class DecodeReport:
    """Filled in while iterating sample_frames."""

    frames_decoded: int = 0
    decode_errors: int = 0
    partial: bool = False  # stopped early (truncated / too many errors) or decoded end << duration
    note: str | None = None  # human-readable one-liner
    end: float = 0.0  # end of the decoded video (t_end of the last frame)
    cuts: int = 0  # hard cuts detected
    frames_sampled: int = 0  # frames yielded
    mode: str = "all"  # decode mode actually used ("auto" resolved)
    packets: int = 0  # packets demuxed so far (with frames_decoded: the stall watch's sign of life)
    io_error: str | None = None  # an OS-level read error (EIO, ESTALE...) ended decoding: not damage


# --------------------------------------------------------------------------- opening / probing


def _open(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DecodeError("file not found") from None
    except OSError as e:
        raise DecodeError(f"cannot read file: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):  # a directory, FIFO or device would fail or block in av.open
        raise DecodeError("not a regular file")
    if st.st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        return av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise DecodeError("not a video file: invalid data found when processing input") from None
    except av.FFmpegError as e:
        raise DecodeError(f"cannot open: {_reason(e)}") from None
    except OSError as e:
        raise DecodeError(f"cannot read file: {e.strerror or e}") from None


def _io_error(e: BaseException, rep: DecodeReport) -> bool:
    """Record an OS-level read error (the errno kind a dropped share or a failing disk gives)."""
    why = transient_os_error(e)
    if why is not None:
        rep.io_error = why
    return why is not None


def _reason(e: BaseException) -> str:
    """FFmpeg's message without the errno prefix and file name."""
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).splitlines()[0][:200]


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    # Cover art in music files is a one-picture "video" stream flagged attached_pic: not footage.
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        if container.streams.audio:
            raise DecodeError("no video stream (audio-only file?)")
        raise DecodeError("no video stream")
    stream = videos[0]
    if stream.codec_context is None:  # FFmpeg has no decoder for it (PyAV hides the codec id then)
        name = getattr(stream, "name", None)
        raise DecodeError(f"unsupported codec {name!r}" if name else "unsupported codec (no decoder for it)")
    return stream


def _codec_name(stream: av.VideoStream) -> str:
    return stream.codec_context.name if stream.codec_context is not None else "unknown"


def _fps(stream: av.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < rate < 1000:
            return float(rate)
    return None


_HMS = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def _stream_end(container: av.container.InputContainer, stream: av.VideoStream, origin: float) -> float | None:
    """Where the video stream ends, in our time frame (seconds from `origin`)."""
    tb = stream.time_base
    if stream.duration and tb:
        return float(((stream.start_time or 0) + stream.duration) * tb) - origin
    # Matroska keeps per-track durations as a tag ("00:00:12.007000000").
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    m = _HMS.match(tag or "")
    if m:
        return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    if container.duration:
        return container.duration / 1e6
    return None


def _origin(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if container.start_time is not None:
        return container.start_time / 1e6
    if stream.start_time is not None and stream.time_base:
        return float(stream.start_time * stream.time_base)
    return None


def _rotation(frame: av.VideoFrame) -> int:
    return int(round(frame.rotation / 90.0)) * 90 % 360


def _display_size(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[int, int]:
    if sar and sar > 0 and sar != 1:
        width = max(1, round(width * sar))
    return (height, width) if rotation in (90, 270) else (width, height)


def probe(path: str | Path) -> VideoInfo:
    """Container facts plus the first decoded frame (rotation lives in frame side data)."""
    with _open(path) as container:
        stream = _video_stream(container)
        rotation = 0
        try:
            for n, packet in enumerate(container.demux(stream)):
                frames = _decode(stream, packet)
                if frames:
                    rotation = _rotation(frames[0])
                    break
                if n > 300:
                    break
        except av.FFmpegError:
            pass  # facts from the header are still useful; sample_frames will report decode trouble
        width, height = _display_size(stream.width, stream.height, stream.sample_aspect_ratio, rotation)
        if stream.duration and stream.time_base:
            duration: float | None = float(stream.duration * stream.time_base)
        else:
            duration = _stream_end(container, stream, 0.0)
        return VideoInfo(
            duration=duration if duration and duration > 0 else None,
            width=width,
            height=height,
            rotation=rotation,
            fps=_fps(stream),
            codec=_codec_name(stream),
            has_audio=bool(container.streams.audio),
        )


def _decode(stream: av.VideoStream, packet: av.Packet) -> list[av.VideoFrame]:
    return stream.decode(packet)  # type: ignore[return-value]


# --------------------------------------------------------------------------- decode mode


def keyframe_gap(path: str | Path, max_packets: int = 1500, max_seconds: float = 30.0) -> float | None:
    """Largest gap between keyframes among the first packets (None if fewer than two keyframes)."""
    with _open(path) as container:
        stream = _video_stream(container)
        tb = stream.time_base
        keys: list[float] = []
        last = None
        try:
            for n, packet in enumerate(container.demux(stream)):
                if packet.pts is None or packet.size == 0:
                    continue
                t = float(packet.pts * tb)
                last = t if last is None else max(last, t)
                if packet.is_keyframe:
                    keys.append(t)
                if n >= max_packets or (keys and t - keys[0] > max_seconds):
                    break
        except av.FFmpegError:
            pass
        if len(keys) < 2:
            return None
        keys.sort()
        gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
        if last is not None:
            gaps.append(last - keys[-1])  # an unfinished GOP counts too
        return max(gaps)


def resolve_mode(path: str | Path, sampling: SamplingSettings, mode: DecodeMode) -> str:
    """Resolve "auto": skip frames only when cut detection is off (cuts need every frame).

    Keyframes at least every `interval` -> decode keyframes only; otherwise skip non-reference frames.
    """
    if mode != "auto":
        return mode
    if sampling.detect_cuts:
        return "all"
    gap = keyframe_gap(path)
    return "nonkey" if gap is not None and gap <= sampling.interval + _EPS else "nonref"


# --------------------------------------------------------------------------- sampling


class _Shrinker:
    """Converts frames to the sample image size, computed once per (size, rotation, SAR)."""

    def __init__(self, size: int, sar: Fraction | None) -> None:
        self.size = size
        self.sar = sar
        self._key: tuple[int, int, int, Fraction | None] | None = None
        self._coded: tuple[int, int] = (0, 0)
        # One reformatter for the whole file keeps its swscale context: frame.reformat() builds a
        # new one per call (filter tables for a 1080p -> 256 area scale: ~1-3 ms a frame).
        self._sws = VideoReformatter()

    def image(self, frame: av.VideoFrame, rotation: int) -> Image.Image:
        sar = self.sar
        key = (frame.width, frame.height, rotation, sar)
        if key != self._key:
            self._key = key
            dw, dh = _display_size(frame.width, frame.height, sar, rotation)
            short = min(dw, dh)
            if short > self.size:  # downscale only
                scale = self.size / short
                dw, dh = (self.size, max(1, round(dh * scale))) if dw <= dh else (max(1, round(dw * scale)), self.size)
            self._coded = (dh, dw) if rotation in (90, 270) else (dw, dh)
        w, h = self._coded
        img = self._sws.reformat(frame, width=w, height=h, format="rgb24", interpolation="AREA").to_image()
        return img.transpose(_TRANSPOSE[rotation]) if rotation else img


# 8-bit formats whose first plane is luma: read it in place instead of a swscale call per frame.
_LUMA8 = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
    "yuv411p", "yuvj411p", "yuv410p", "nv12", "nv21", "nv16", "gray", "yuva420p",
}  # fmt: skip
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_K = 4  # luma samples per thumbnail pixel and axis (16 per pixel)


def _grey(frame: av.VideoFrame) -> np.ndarray:
    """32x32 grey thumbnail, 0..255 full range, for cut and duplicate detection.

    Averages a 4x4 grid of luma samples per thumbnail pixel (~4x cheaper than swscale's area
    filter on HD frames, same values to within noise).
    """
    fmt = frame.format.name
    plane = frame.planes[0]
    if fmt in _LUMA8 and plane.line_size >= frame.width:
        y = np.frombuffer(plane, np.uint8, count=plane.height * plane.line_size)
        y = y.reshape(plane.height, plane.line_size)
        h, w = frame.height, frame.width
        rows = np.arange(_GREY * _K) * h // (_GREY * _K)
        cols = np.arange(_GREY * _K) * w // (_GREY * _K)
        g = y[np.ix_(rows, cols)].reshape(_GREY, _K, _GREY, _K).mean(axis=(1, 3), dtype=np.float32)
        if frame.color_range != _FULL_RANGE and not fmt.startswith(("yuvj", "gray")):
            g = (g - 16.0) * np.float32(255 / 219)  # limited (TV) range luma -> full range grey
        return g
    g8 = frame.reformat(width=_GREY, height=_GREY, format="gray", interpolation="AREA")
    return g8.to_ndarray().astype(np.float32)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def sample_frames(
    path: str | Path,
    sampling: SamplingSettings,
    report: DecodeReport | None = None,
    mode: DecodeMode = "all",
    on_frame: Callable[[float, av.VideoFrame], None] | None = None,
) -> Iterator[SampledFrame]:
    """Yield sampled frames with contiguous spans covering [0, end of video).

    Raises DecodeError (at the first next()) when the file cannot be opened or no frame decodes.
    Decode errors after that are counted in `report`; past `sampling.max_decode_errors` decoding
    stops and the report is marked partial. `mode` picks the decoder's skip_frame: "all" (default,
    frame-accurate cuts), "nonref", "nonkey" or "auto" (see resolve_mode). `on_frame(t, frame)`
    sees every decoded picture (the channels' taps: reelcore/channels/taps.py).
    """
    rep = report if report is not None else DecodeReport()
    resolved = resolve_mode(path, sampling, mode)
    rep.mode = resolved
    with _open(path) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        if resolved != "all":
            stream.codec_context.skip_frame = _SKIP[resolved]
        tb = stream.time_base
        fps = _fps(stream)
        step = 1.0 / fps if fps else 1.0 / 25
        origin = _origin(container, stream)
        expected_end = None  # filled once origin is known
        shrink = _Shrinker(sampling.thumbnail_size, stream.sample_aspect_ratio)

        last_t: float | None = None
        last_dur = step
        prev_grey: np.ndarray | None = None
        kept_grey: np.ndarray | None = None
        pending: SampledFrame | None = None
        next_due = 0.0
        shot = 0
        stopped: str | None = None
        last_error = ""

        pkt_end = [-math.inf]  # end of the last demuxed packet (absolute seconds): skipped frames count

        def frames() -> Iterator[av.VideoFrame]:
            nonlocal stopped, last_error
            failed_reads = 0
            while True:
                try:
                    for packet in container.demux(stream):
                        failed_reads = 0
                        rep.packets += 1
                        if packet.pts is not None and tb:
                            pkt_end[0] = max(pkt_end[0], float((packet.pts + (packet.duration or 0)) * tb))
                        try:
                            yield from _decode(stream, packet)
                        except av.FFmpegError as e:
                            if _io_error(e, rep):
                                stopped = f"read error ({_reason(e)})"
                                return
                            rep.decode_errors += 1
                            last_error = _reason(e)
                        if rep.decode_errors > sampling.max_decode_errors:
                            stopped = f"too many decode errors ({rep.decode_errors}; last: {last_error})"
                            return
                    return
                except av.FFmpegError as e:  # read error: the demuxer can often resync, so retry
                    if _io_error(e, rep):  # the OS failed the read (EIO, ESTALE...): not the file's data
                        stopped = f"read error ({_reason(e)})"
                        return
                    rep.decode_errors += 1
                    failed_reads += 1
                    last_error = _reason(e)
                    if rep.decode_errors > sampling.max_decode_errors or failed_reads >= 3:
                        stopped = f"read error ({last_error})"
                        return

        for frame in frames():
            if origin is None:  # no container/stream start: the first frame is time zero
                origin = float(frame.pts * tb) if frame.pts is not None and tb else 0.0
            if expected_end is None:
                expected_end = _stream_end(container, stream, origin) or 0.0
            # Timestamps: pts relative to the origin; missing or backwards pts continue at frame rate.
            t = float(frame.pts * tb) - origin if frame.pts is not None and tb else None
            if last_t is None:
                t = max(t or 0.0, 0.0)
            elif t is None or t <= last_t:
                t = last_t + last_dur
            if frame.duration and frame.time_base:
                last_dur = float(frame.duration * frame.time_base) or step
            t = last_t = round(t, 6)  # microseconds: no float drift in spans and ids
            rep.frames_decoded += 1
            if on_frame is not None:
                on_frame(t, frame)

            try:
                grey = _grey(frame)
            except (av.FFmpegError, ValueError) as e:
                rep.decode_errors += 1
                last_error = _reason(e)
                continue
            is_cut = sampling.detect_cuts and prev_grey is not None and _mad(grey, prev_grey) > sampling.cut_threshold
            prev_grey = grey
            if is_cut:
                shot += 1
                rep.cuts += 1
            due = t >= next_due - _EPS
            if not (due or is_cut or pending is None):
                continue
            if due:
                next_due = (math.floor(t / sampling.interval + _EPS) + 1) * sampling.interval
            if (
                pending is not None
                and not is_cut
                and kept_grey is not None
                and _mad(grey, kept_grey) < sampling.dedup_threshold
            ):
                continue  # near-duplicate: the kept frame's span extends over it
            try:
                image = shrink.image(frame, _rotation(frame))
            except (av.FFmpegError, ValueError) as e:
                rep.decode_errors += 1
                last_error = _reason(e)
                continue
            if pending is not None:
                pending.t_end = t
                rep.frames_sampled += 1
                yield pending
            pending = SampledFrame(
                t_start=0.0 if pending is None else t, t_end=t, shot=shot, image=image, is_cut=is_cut, t_frame=t
            )
            kept_grey = grey

        if pending is None:
            detail = f": {last_error}" if last_error else ""
            raise DecodeError(f"no decodable video frames ({_codec_name(stream)}){detail}")

        assert last_t is not None and origin is not None
        end = last_t + last_dur
        expected = expected_end or 0.0
        tolerance = max(1.0, 2 * sampling.interval, 0.02 * expected)
        demuxed = pkt_end[0] - origin  # covers frames skipped by skip_frame or lost to errors
        if not stopped and (expected <= 0 or demuxed <= expected + tolerance):  # ignore garbage pts
            end = max(end, demuxed)
        of = f" of {expected:.1f} s" if expected > 0 else ""
        if stopped:
            rep.partial = True
            rep.note = f"decoding stopped at {end:.1f} s{of}: {stopped}"
        elif expected > end + tolerance:
            rep.partial = True
            rep.note = f"decoding stopped at {end:.1f} s of {expected:.1f} s (truncated file?)"
        else:
            end = max(end, expected)
            if rep.decode_errors:
                rep.note = f"{rep.decode_errors} decode errors skipped (damaged file?)"
        pending.t_end = max(round(end, 6), pending.t_start + _EPS)
        rep.end = pending.t_end
        rep.frames_sampled += 1
        yield pending
