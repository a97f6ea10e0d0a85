"""A video file's own timing: start timecode, frame rate (drop-frame or not), reel name, length.

Read with PyAV from what the file carries, in this order: a QuickTime/MP4 `tmcd` data track's
`timecode` tag, the video stream's `timecode` tag, the container's `timecode` tag (MXF, MKV).
ffmpeg writes a drop-frame timecode with `;` before the frames (`01:00:00;00`), and that is the
only place the drop-frame flag survives the demuxer, so it decides drop-frame. A file without any
timecode starts at 00:00:00:00. Variable-frame-rate files are exported at their nominal rate (the
standard rate they declare, else the one nearest to their average) and say so in `note`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

# Rates editing applications know; a file's rate snaps to one of these when it is this close.
STANDARD_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                  Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60), Fraction(100),
                  Fraction(120000, 1001), Fraction(120))
_SNAP = 0.002  # relative distance for a constant-rate file's rate to count as a standard rate
_SNAP_VFR = 0.03  # a variable-rate file's average drifts more
_VFR_SPREAD = 0.01  # average vs. nominal (r_frame_rate) apart by more than this: variable frame rate
_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")
DEFAULT_RATE = Fraction(25)


class TimecodeError(ValueError):
    """A timecode string that is not HH:MM:SS:FF (or HH:MM:SS;FF for drop-frame)."""


@dataclass(frozen=True)
class SourceTiming:
    """How an editing application will count frames in one file."""

    rate: Fraction  # frames per second (nominal for VFR files)
    drop_frame: bool
    start_timecode: str  # the file's first frame, e.g. "01:00:00:00" or "01:00:00;00"
    start_frame: int  # that timecode as a frame count at `rate`
    frames: int  # frames in the file (the last usable frame is frames - 1)
    reel: str | None = None  # tape/reel name where the file has one
    size: tuple[int, int] | None = None  # width, height
    vfr: bool = False
    timecode_source: str = "none"  # tmcd track, video stream, container, or none
    note: str | None = None  # what the export should tell the user about this file

    @property
    def fps(self) -> float:
        return float(self.rate)


def timecode_to_frames(tc: str, rate: Fraction, drop_frame: bool | None = None) -> int:
    """Frame count of a timecode at `rate`; drop-frame (`;`) follows SMPTE 12M: frames 0 and 1
    (0-3 at 59.94) are skipped at the start of every minute except each tenth."""
    m = _TC.match(tc.strip())
    if not m:
        raise TimecodeError(f"not a timecode: {tc!r} (expected HH:MM:SS:FF)")
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    nominal = round(rate)
    if mm > 59 or ss > 59 or ff >= nominal:
        raise TimecodeError(f"not a timecode at {float(rate):.3f} fps: {tc!r}")
    df = (sep in ";.,") if drop_frame is None else drop_frame
    frames = (hh * 3600 + mm * 60 + ss) * nominal + ff
    if df:
        drop = nominal // 15  # 2 at 29.97, 4 at 59.94
        minutes = hh * 60 + mm
        frames -= drop * (minutes - minutes // 10)
    return frames


def frames_to_timecode(frames: int, rate: Fraction, drop_frame: bool) -> str:
    """The timecode of a frame count at `rate` (`;` before the frames when drop-frame)."""
    nominal = round(rate)
    if drop_frame:
        drop = nominal // 15
        per_10min = nominal * 600 - drop * 9
        per_min = nominal * 60 - drop
        tens, rem = divmod(frames, per_10min)
        extra = 0 if rem < drop else drop * ((rem - drop) // per_min)
        frames = frames + drop * 9 * tens + extra
    ff = frames % nominal
    total_s = frames // nominal
    hh, mm, ss = (total_s // 3600) % 24, (total_s // 60) % 60, total_s % 60
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop_frame else ':'}{ff:02d}"


def nominal_rate(rate: Fraction, tolerance: float = _SNAP) -> Fraction | None:
    """The standard rate within `tolerance` of `rate`, if any."""
    best = min(STANDARD_RATES, key=lambda r: abs(r - rate))
    return best if abs(best - rate) <= tolerance * best else None


def _tag(metadata: dict[str, str], key: str) -> str | None:
    for k, v in metadata.items():
        if k.lower() == key and v and v.strip():
            return v.strip()
    return None


def _frac(x: object) -> Fraction | None:
    try:
        f = Fraction(x)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if 0 < f < 1000 else None


def probe_timing(path: str | Path) -> SourceTiming:
    """Read `path`'s start timecode, rate, reel and length with PyAV (raises OSError/av errors)."""
    import av  # function-level: the CLI's start-up does not pay for it

    with av.open(str(path)) as container:
        video = next((s for s in container.streams if s.type == "video"), None)
        if video is None:
            raise OSError(f"{path}: no video stream")
        tc, source, reel = None, "none", None
        for s in container.streams:
            if s.type == "data" and _tag(dict(s.metadata), "timecode"):
                tc, source = _tag(dict(s.metadata), "timecode"), "tmcd track"
                reel = _tag(dict(s.metadata), "reel_name")
                break
        if tc is None and _tag(dict(video.metadata), "timecode"):
            tc, source = _tag(dict(video.metadata), "timecode"), "video stream"
        if tc is None and _tag(dict(container.metadata), "timecode"):
            tc, source = _tag(dict(container.metadata), "timecode"), "container"
        reel = reel or _tag(dict(video.metadata), "reel_name") or _tag(dict(container.metadata), "reel_name") \
            or _tag(dict(container.metadata), "tape_name")
        avg, base = _frac(video.average_rate), _frac(video.base_rate) or _frac(video.guessed_rate)
        duration = _seconds(container, video)
        counted = video.frames or 0
        size = (video.codec_context.width, video.codec_context.height) if video.codec_context.width else None
    notes: list[str] = []
    vfr = bool(avg and base and abs(avg - base) > _VFR_SPREAD * avg)
    measured = avg or base
    if measured is None:
        rate = DEFAULT_RATE
        notes.append(f"no frame rate in the file: exported at {float(rate):g} fps")
    elif vfr:
        # The container's nominal rate (r_frame_rate) when it is a standard one, else the average's.
        rate = (base and nominal_rate(base)) or nominal_rate(measured, _SNAP_VFR) or Fraction(max(1, round(measured)))
        notes.append(f"variable frame rate (average {float(measured):.3f} fps): exported at its nominal "
                     f"{float(rate):.3f} fps")
    else:
        rate = nominal_rate(measured) or Fraction(max(1, round(measured)))
        if nominal_rate(measured) is None:
            notes.append(f"{float(measured):.3f} fps is no standard rate: exported at {float(rate):g} fps")
    drop = False
    start = 0
    if tc is not None:
        try:
            drop = bool(_TC.match(tc)) and _TC.match(tc)[4] in ";.,"  # type: ignore[index]
            if drop and round(rate) not in (30, 60):
                notes.append(f"drop-frame timecode {tc} at {float(rate):.3f} fps: read as non-drop")
                drop = False
            start = timecode_to_frames(tc, rate, drop)
        except TimecodeError as e:
            notes.append(f"{e}: starts at 00:00:00:00")
            tc, source, drop, start = None, "none", False, 0
    if tc is None:
        tc = "00:00:00:00"
    if not (counted > 0 and vfr is False):
        counted = max(1, math.floor(duration * rate + 1e-6)) if duration else max(counted, 1)
    return SourceTiming(rate=rate, drop_frame=drop, start_timecode=frames_to_timecode(start, rate, drop),
                        start_frame=start, frames=counted, reel=reel, size=size, vfr=vfr, timecode_source=source,
                        note="; ".join(notes) or None)


def _seconds(container: object, video: object) -> float | None:
    """The video stream's duration, else the container's."""
    d, tb = getattr(video, "duration", None), getattr(video, "time_base", None)
    if d and tb:
        return float(d * tb)
    cd = getattr(container, "duration", None)
    return cd / 1_000_000 if cd else None
