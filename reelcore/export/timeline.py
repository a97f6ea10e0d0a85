"""Moments -> one OpenTimelineIO timeline: every moment a subclip of its file and a marker.

The timeline is the one truth every format renders (formats.py): clips laid end to end on one
video track from 01:00:00:00, each clip's source range in its file's own timecode and rate, its
media reference the file (with the file's whole timecode range as available range), and one
marker over the clip named after the question, the evidence in its comment.

Frame rounding is the editing applications' rule for a subclip of a time span: the in point is
the frame on screen at `start` (floor), the out point (exclusive) the first frame after `end`
(ceil), so the subclip holds the whole moment; never past the file's last frame, and at least
one frame long.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from .moments import ExportMoment
from .timecode import DEFAULT_RATE, SourceTiming, frames_to_timecode, timecode_to_frames

RECORD_START = "01:00:00:00"  # where the exported sequence starts (the editing convention)
MARKER_COLOR = "GREEN"
_EPS = 1e-6  # frames: float seconds * rate lands a hair off the integer


@dataclass(frozen=True)
class Subclip:
    """One moment in frames of its file: [in_frame, out_frame) counted from the file's first frame."""

    in_frame: int
    out_frame: int


def frame_range(start: float, end: float, timing: SourceTiming) -> Subclip:
    """The frames a moment [start, end) seconds covers in a file (see the module docstring)."""
    rate = float(timing.rate)
    last = max(1, timing.frames)
    a = min(max(0, math.floor(start * rate + _EPS)), last - 1)
    b = min(max(a + 1, math.ceil(end * rate - _EPS)), last)
    return Subclip(a, b)


def _record_start(rate: Fraction, drop: bool) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(timecode_to_frames(RECORD_START, rate, drop), float(rate))


def build_timeline(moments: Sequence[ExportMoment], timing_of: Callable[[str], SourceTiming],
                   title: str) -> otio.schema.Timeline:
    """One timeline for `moments` (in their order). `timing_of(path)` gives a file's timing
    (called once per file); the timeline runs at the first file's rate."""
    timings: dict[str, SourceTiming] = {}
    for m in moments:
        if m.path not in timings:
            timings[m.path] = timing_of(m.path)
    first = timings[moments[0].path] if moments else None
    rate_f = first.rate if first else DEFAULT_RATE
    drop = bool(first and first.drop_frame)
    tl = otio.schema.Timeline(name=title, global_start_time=_record_start(rate_f, drop))
    tl.metadata["reelfind"] = {"rate": [rate_f.numerator, rate_f.denominator], "drop_frame": drop,
                               "files": {p: _timing_meta(t) for p, t in timings.items()}}
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    record = round(tl.global_start_time.value)
    for k, m in enumerate(moments, 1):
        t = timings[m.path]
        r = float(t.rate)
        sub = frame_range(m.start, m.end, t)
        ref = otio.schema.ExternalReference(
            target_url=Path(m.path).as_uri() if Path(m.path).is_absolute() else m.path,
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(t.start_frame, r),
                                                    otio.opentime.RationalTime(t.frames, r)))
        ref.name = m.name
        source = otio.opentime.TimeRange(otio.opentime.RationalTime(t.start_frame + sub.in_frame, r),
                                         otio.opentime.RationalTime(sub.out_frame - sub.in_frame, r))
        clip = otio.schema.Clip(name=m.name, media_reference=ref, source_range=source)
        marker = otio.schema.Marker(name=m.label, marked_range=source, color=MARKER_COLOR)
        marker.comment = m.comment()
        clip.markers.append(marker)
        clip.metadata["reelfind"] = {
            "index": k, "video_id": m.video_id, "path": m.path, "start": m.start, "end": m.end, "peak": m.peak,
            "score": m.score, "z": m.z, "channels": list(m.channels), "quote": m.quote, "label": m.label,
            "comment": m.comment(), "in_frame": sub.in_frame, "out_frame": sub.out_frame,
            "source_in": frames_to_timecode(t.start_frame + sub.in_frame, t.rate, t.drop_frame),
            "source_out": frames_to_timecode(t.start_frame + sub.out_frame, t.rate, t.drop_frame),
        }
        # Where it sits in the sequence, in sequence frames (a file at another rate: rounded).
        length = max(1, round((sub.out_frame - sub.in_frame) * rate_f / t.rate))
        clip.metadata["reelfind"].update(record_in=record, record_out=record + length)
        record += length
        if t.reel:
            clip.metadata["cmx_3600"] = {"reel": t.reel}
        track.append(clip)
    return tl


def _timing_meta(t: SourceTiming) -> dict:
    return {"rate": [t.rate.numerator, t.rate.denominator], "drop_frame": t.drop_frame,
            "start_timecode": t.start_timecode, "frames": t.frames, "reel": t.reel, "vfr": t.vfr,
            "size": list(t.size) if t.size else None,
            "timecode_source": t.timecode_source, "note": t.note}
