"""Small synthetic clips written with PyAV, for exact assertions (cut times, colours, timestamps).

    cuts = make_clip(tmp_path / "a.mp4", [(1.0, RED), (2.0, BLUE)])   # -> [1.0]
    cuts = make_clip(p, [(3.0, GREY)], motion=True)   # moving square: every 1 s sample differs
    make_vfr_clip(p, [0.0, 0.1, 0.5, 1.5])             # frames exactly at these times

Each segment is its colour plus a fixed, segment-specific stripe pattern (so two segments never
look alike) and, with motion=True, a square that moves a few pixels per frame: consecutive frames
differ by ~1-2 (mean abs diff of a 32x32 grey thumbnail, 0..255), frames 1 s apart by well over
the dedup threshold. Without motion a segment is a still picture (the sampler keeps one frame of
it). For a detectable cut, neighbouring colours should differ in luma by > ~40 (e.g. the
constants below). Clips are tiny (160x120, ultrafast x264): writing one takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RGB = tuple[int, int, int]
RED: RGB = (220, 30, 30)
GREEN: RGB = (30, 200, 60)
BLUE: RGB = (30, 40, 220)
WHITE: RGB = (235, 235, 235)
BLACK: RGB = (16, 16, 16)
GREY: RGB = (128, 128, 128)
YELLOW: RGB = (230, 220, 40)


def segment_frame(index: int, colour: RGB, size: tuple[int, int], frame_no: int = 0, motion: bool = False):
    """The RGB picture (h, w, 3 uint8) for frame `frame_no` of segment `index`."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = colour
    # Segment-specific stripes: a band whose position and brightness depend on the segment index.
    band = max(2, h // 10)
    y0 = (index * 37) % max(1, h - band)
    img[y0 : y0 + band] = np.clip(np.array(colour, np.int16) + (60 if sum(colour) < 384 else -60), 0, 255)
    if motion:
        sq = max(4, min(w, h) // 5)
        span = max(1, w - sq)
        x = (frame_no * 3) % span
        y = (h - sq) // 2
        img[y : y + sq, x : x + sq] = (255, 255, 255) if sum(colour) < 384 else (0, 0, 0)
    return img


def _writer(
    path: Path,
    size: tuple[int, int],
    time_base: Fraction,
    rate: Fraction,
    codec: str,
    gop: int | None,
    rotation: int,
    audio: bool,
    pix_fmt: str = "yuv420p",
):
    container = av.open(str(path), mode="w")
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height = size
    stream.pix_fmt = pix_fmt
    stream.codec_context.time_base = time_base
    if gop is not None:
        stream.codec_context.gop_size = gop
    if codec == "libx264":
        stream.options = {"preset": "ultrafast", "crf": "18"}
    elif codec == "mpeg4":
        stream.codec_context.qscale = True
        stream.options = {"qscale": "3"}
    if rotation:
        stream.set_display_rotation(rotation)
    astream = container.add_stream("aac", rate=48000, layout="mono") if audio else None
    return container, stream, astream


def _write_silence(container, astream, duration: float) -> None:
    samples = int(duration * 48000)
    pts = 0
    while pts < samples:
        n = min(1024, samples - pts)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, n), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 48000
        frame.pts = pts
        pts += n
        container.mux(astream.encode(frame))
    container.mux(astream.encode(None))


def make_clip(
    path: str | Path,
    segments: Sequence[tuple[float, RGB]],
    fps: int = 25,
    size: tuple[int, int] = (160, 120),
    gop: int | None = None,
    codec: str = "libx264",
    motion: bool = False,
    rotation: int = 0,
    audio: bool = False,
    pix_fmt: str = "yuv420p",
) -> list[float]:
    """Write segments of (duration_s, colour) with hard cuts between them; return the cut times.

    Segment i has round(duration*fps) frames (at least 1); frame n is shown at n/fps exactly, so
    cut times are exact multiples of 1/fps and the clip lasts sum(frames)/fps. `codec` is
    "libx264" (mp4/mkv) or "mpeg4" (also .avi); `gop` caps the keyframe interval in frames;
    `rotation` stores a display-matrix rotation (counter-clockwise degrees, like PyAV's
    frame.rotation); `audio` adds a silent AAC track; `pix_fmt` picks the coded pixel format (any
    the codec takes: "yuv444p", "yuvj422p" for mjpeg, "yuv422p10le" for prores_ks/ffv1, "rgb24"
    for png). The container follows the suffix.
    """
    path = Path(path)
    container, stream, astream = _writer(
        path, size, Fraction(1, fps), Fraction(fps), codec, gop, rotation, audio, pix_fmt
    )
    cuts: list[float] = []
    n = 0
    with container:
        for index, (duration, colour) in enumerate(segments):
            if index:
                cuts.append(n / fps)
            for k in range(max(1, round(duration * fps))):
                img = segment_frame(index, colour, size, frame_no=n if motion else k, motion=motion)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
                frame.pts = n
                container.mux(stream.encode(frame))
                n += 1
        container.mux(stream.encode(None))
        if astream is not None:
            _write_silence(container, astream, n / fps)
    return cuts


def make_vfr_clip(
    path: str | Path,
    times: Sequence[float],
    size: tuple[int, int] = (160, 120),
    picture: Callable[[int], np.ndarray] | None = None,
) -> float:
    """Write one frame at each of `times` (seconds, increasing, millisecond precision).

    Frames show a moving square on grey unless `picture(i)` gives the (h, w, 3) uint8 image.
    Returns the last frame's time; the container decides that frame's duration (about 1/25 s).
    """
    path = Path(path)
    container, stream, _ = _writer(path, size, Fraction(1, 1000), Fraction(25), "libx264", None, 0, False)
    with container:
        for i, t in enumerate(times):
            img = picture(i) if picture else segment_frame(0, GREY, size, frame_no=i * 5, motion=True)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = round(t * 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return float(times[-1])
