"""One PyAV decode pass for the text channel: decoded frames with their times, a small luma
picture for the gate, and the full RGB picture only for frames that are read.

Opening, stream choice, time origin and the decode mode come from reelcore.media.decode (same errors,
same time base as the visual channel). The decoder skips what the gate never looks at: keyframes
only when they come at least every second, else non-reference frames are skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from ...config import SamplingSettings
from ...media import decode

SMALL_WIDTH = 480  # about this wide: the gate's luma picture
MAX_SIDE = 1920  # frames larger than this are read scaled down (4K -> 1080p)


@dataclass
class Decoded:
    t: float
    frame: av.VideoFrame
    rotation: int  # counter-clockwise degrees to make the picture upright

    def small(self) -> np.ndarray:
        """Luma, subsampled to about SMALL_WIDTH wide, upright (uint8)."""
        return luma_small(self.frame, self.rotation)

    def rgb(self) -> np.ndarray:
        """The full picture (at most MAX_SIDE on its longer side), RGB uint8, upright."""
        return rgb_full(self.frame, self.rotation)


def rotation_of(frame: av.VideoFrame) -> int:
    """Counter-clockwise degrees (0/90/180/270) that make the picture upright."""
    return int(round(frame.rotation / 90.0)) * 90 % 360


def luma_small(f: av.VideoFrame, rotation: int) -> np.ndarray:
    """Luma, subsampled to about SMALL_WIDTH wide, upright (uint8)."""
    step = max(1, f.width // SMALL_WIDTH)
    plane = f.planes[0]
    if f.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12",
                         "nv21", "gray") and plane.line_size >= f.width:
        y = np.frombuffer(plane, np.uint8, count=plane.height * plane.line_size)
        y = y.reshape(plane.height, plane.line_size)[: f.height, : f.width]
    else:
        y = f.to_ndarray(format="gray")
    return _upright(np.ascontiguousarray(y[::step, ::step]), rotation)


def rgb_full(f: av.VideoFrame, rotation: int) -> np.ndarray:
    """The full picture (at most MAX_SIDE on its longer side), RGB uint8, upright."""
    scale = min(1.0, MAX_SIDE / max(f.width, f.height))
    if scale < 1.0:
        f = f.reformat(width=round(f.width * scale) // 2 * 2, height=round(f.height * scale) // 2 * 2)
    return _upright(f.to_ndarray(format="rgb24"), rotation)


def _upright(a: np.ndarray, rotation: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(a, rotation // 90)) if rotation else a


def decoded_frames(path: str, stop: threading.Event, report: decode.DecodeReport) -> Iterator[Decoded]:
    """Decoded frames in presentation order with times in seconds from the start of the file.

    Raises decode.DecodeError when the file cannot be opened; damaged packets are counted in
    `report` and skipped (past 50 of them the pass stops and the report says so).
    """
    mode = decode.resolve_mode(path, SamplingSettings(interval=1.0, detect_cuts=False), "auto")
    report.mode = mode
    with decode._open(path) as container:
        stream = decode._video_stream(container)
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = decode._SKIP[mode]
        tb = stream.time_base
        origin = decode._origin(container, stream)
        last = -1.0
        for packet in container.demux(stream):
            if stop.is_set():
                report.partial = True
                return
            try:
                frames = stream.decode(packet)
            except av.FFmpegError:
                report.decode_errors += 1
                if report.decode_errors > 50:
                    report.partial, report.note = True, "too many decode errors"
                    return
                continue
            for frame in frames:
                if origin is None:
                    origin = float(frame.pts * tb) if frame.pts is not None and tb else 0.0
                t = float(frame.pts * tb) - origin if frame.pts is not None and tb else last + 0.04
                t = max(t, last + 1e-6, 0.0)
                last = t
                report.frames_decoded += 1
                yield Decoded(round(t, 6), frame, rotation_of(frame))
        report.end = max(report.end, last)
