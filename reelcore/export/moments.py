"""What gets exported: one `ExportMoment` per found moment, from any of the read side's results.

The read side's models (reelcore.models) differ per question: a search's moments, a scene query's
scenes, a timeline's peaks. Each becomes the same small record here, named after the question,
with the evidence an editor wants in the marker's comment (channels, score, quoted words).
A hand-picked selection (video id + start/end, e.g. cards picked in the viewer) is resolved
against the catalogue, so only indexed files are ever exported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reelcore.inputs import QueryError
from reelcore.models import ScenesOut, SearchOut, TimelineOut

MAX_EXPORT_MOMENTS = 500  # one export file holds at most this many moments


class ExportInputError(QueryError):
    """A selection that cannot be exported (unknown video, bad times, too many moments)."""


@dataclass(frozen=True)
class ExportMoment:
    video_id: str
    path: str
    name: str
    start: float  # seconds from the start of the file
    end: float
    label: str  # the question: becomes the marker's name
    peak: float | None = None
    score: float | None = None
    z: float | None = None
    channels: tuple[str, ...] = ("seen",)
    quote: str | None = None  # the words said or shown, where the moment has them
    detail: str | None = None  # anything else worth a line (per-concept z of a scene)
    extra: dict[str, Any] = field(default_factory=dict)

    def comment(self) -> str:
        """The marker comment: channels, score and quoted words (one line)."""
        parts = [", ".join(self.channels)]
        if self.score is not None:
            parts.append(f"score {self.score:.3f}" + (f" (z {self.z:.1f})" if self.z is not None else ""))
        if self.peak is not None:
            parts.append(f"peak {self.peak:.2f} s")
        if self.detail:
            parts.append(self.detail)
        if self.quote:
            parts.append('"' + " ".join(self.quote.split()) + '"')
        return "; ".join(parts)


def parse_moment(spec: str, what: str = "moment") -> dict[str, Any]:
    """`VIDEO@START-END` (seconds; VIDEO a video_id, path or unique file name) -> a selection item
    for `from_selection` (the CLI's --moment and the viewer route's `moment` parameters)."""
    video, sep, span = spec.rpartition("@")
    start, dash, end = span.partition("-")
    try:
        if not (sep and dash and video):
            raise ValueError
        return {"video_id": video, "start": float(start), "end": float(end)}
    except ValueError:
        raise QueryError(f"{what} must look like VIDEO@START-END in seconds, e.g. clip.mov@12.5-18 "
                         f"(got {spec[:100]!r})") from None


def _channels(m: Any) -> tuple[str, ...]:
    """The channels a result names (a list of names or of {channel: ...}); 'seen' (the picture) when
    it names none (scenes and timeline peaks are found in the picture)."""
    raw = getattr(m, "channels", None)
    if not raw:
        return ("seen",)
    names = [c if isinstance(c, str) else str(getattr(c, "channel", None) or (c.get("channel") if isinstance(
        c, Mapping) else c)) for c in raw]
    return tuple(dict.fromkeys(n for n in names if n)) or ("seen",)


def _quote(m: Any) -> str | None:
    """The words a moment quotes: the speech channel's segment (`said`), else a plain text field."""
    said = getattr(m, "said", None)
    text = getattr(said, "text", None)
    if isinstance(text, str) and text.strip():
        return text.strip()
    for key in ("quote", "words", "text"):
        v = getattr(m, key, None)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _check_count(n: int) -> None:
    if n > MAX_EXPORT_MOMENTS:
        raise ExportInputError(f"at most {MAX_EXPORT_MOMENTS} moments per export (got {n})")


def from_search(out: SearchOut) -> list[ExportMoment]:
    label = out.query + (f" (not {out.exclude})" if out.exclude else "")
    _check_count(len(out.moments))
    return [ExportMoment(video_id=m.video_id, path=m.path, name=m.name, start=m.start, end=m.end, label=label,
                         peak=m.peak, score=m.score, z=m.z, channels=_channels(m), quote=_quote(m))
            for m in out.moments]


def from_scenes(out: ScenesOut) -> list[ExportMoment]:
    label = " + ".join(out.concepts)
    _check_count(len(out.scenes))
    return [ExportMoment(video_id=s.video_id, path=s.path, name=s.name, start=s.start, end=s.end, label=label,
                         peak=s.peak, score=s.score, z=s.z, channels=_channels(s), quote=_quote(s),
                         detail=", ".join(f"{c} z {z:.1f}" for c, z in s.concepts.items()) or None)
            for s in out.scenes]


def from_timeline(out: TimelineOut) -> list[ExportMoment]:
    _check_count(len(out.peaks))
    return [ExportMoment(video_id=out.video_id, path=out.path, name=out.name, start=p.start, end=p.end,
                         label=out.query, peak=p.time, score=p.score, z=p.z)
            for p in out.peaks]


def from_selection(items: Iterable[Mapping[str, Any]], lookup: Callable[[str], Any],
                   label: str = "selection") -> list[ExportMoment]:
    """Hand-picked moments: each {video_id, start, end[, label]}. `lookup(video_id)` returns the
    file's catalogue record (with .path, .duration, .frames) or None; unknown or unindexed videos
    and times outside the file are errors, never silently dropped."""
    items = list(items)
    _check_count(len(items))
    out: list[ExportMoment] = []
    for k, item in enumerate(items, 1):
        vid = str(item.get("video_id") or item.get("video") or "")
        rec = lookup(vid) if vid else None
        if rec is None or not getattr(rec, "frames", 0):
            raise ExportInputError(f"moment {k}: no indexed video {vid!r}")
        try:
            start, end = float(item["start"]), float(item["end"])
        except (KeyError, TypeError, ValueError):
            raise ExportInputError(f"moment {k}: start and end must be numbers of seconds") from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise ExportInputError(f"moment {k}: needs 0 <= start < end (got {start}, {end})")
        if rec.duration and start >= rec.duration:
            raise ExportInputError(f"moment {k}: starts at {start} s, after the end of the video "
                                   f"({rec.duration:.2f} s)")
        name = str(rec.path).replace("\\", "/").rsplit("/", 1)[-1]
        own = str(item.get("label") or "").strip()[:200]
        score = item.get("score")
        out.append(ExportMoment(video_id=rec.video_id, path=rec.path, name=name, start=start, end=end,
                                label=own or label, score=float(score) if isinstance(score, (int, float)) else None))
    return out


def moments_of(result: SearchOut | ScenesOut | TimelineOut) -> tuple[list[ExportMoment], str, str]:
    """A read-side result's moments, the export's title and what to say when it has none."""
    if isinstance(result, SearchOut):
        return from_search(result), result.query, result.message
    if isinstance(result, ScenesOut):
        return from_scenes(result), " + ".join(result.concepts), result.message
    return from_timeline(result), f"{result.query} in {result.name}", result.message
