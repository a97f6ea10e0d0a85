"""A video's transcript over a span: for `get_transcript` (MCP) and `reelfind transcript` (text/SRT/WebVTT)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ...inputs import QueryError
from ...models import SegmentOut, TranscriptOut, WordOut
from ..base import Segment
from ..state import ChannelStates
from .channel import SpeechChannel
from .reader import speech_index

if TYPE_CHECKING:
    from ...query.search import SearchService

FORMATS = ("text", "srt", "vtt")


def get_transcript(svc: SearchService, video: str, t_from: float | None = None,
                   t_to: float | None = None) -> TranscriptOut:
    for name, t in (("t_from", t_from), ("t_to", t_to)):
        if t is not None and (not isinstance(t, int | float) or t != t or t < 0 or t == float("inf")):
            raise QueryError(f"{name} must be 0 or more seconds (got {t!r})")
    if t_from is not None and t_to is not None and t_to <= t_from:
        raise QueryError(f"t_to ({t_to:g} s) must be later than t_from ({t_from:g} s)")
    rec = svc.resolve_video(video)
    ch = SpeechChannel(svc.settings)
    base = {"video_id": rec.video_id, "path": rec.path, "name": rec.path.rsplit("/", 1)[-1],
            "t_from": t_from, "t_to": t_to}
    if not ch.enabled:
        return TranscriptOut(**base, speech="disabled", note="the speech channel is disabled", segments=[],
                             truncated=False)
    row = ChannelStates(svc.catalog, ch.name).get(rec.video_id)
    state = "pending" if row is None or row.identity != ch.identity else row.state
    segs, cut = speech_index(svc.settings, svc.store, ch.identity).transcript(rec.video_id, t_from, t_to)
    if row is None and svc.catalog.get_by_video_id(rec.video_id) is None:
        state = "indexed"  # another machine's video in a shared store: its records are its state
    note = None if row is None else (row.error if row.state == "failed" else row.note)
    return TranscriptOut(**base, speech=state, note=note, segments=[segment_out(s) for s in segs], truncated=cut)


def segment_out(s: Segment) -> SegmentOut:
    words = [WordOut(word=w.text, start=w.start, end=w.end, approx=False) for w in s.words] or None
    return SegmentOut(start=s.start, end=s.end, text=s.text, language=s.language, source=s.source, words=words)


def render(segments: list[dict], fmt: str) -> str:
    """Segments (SegmentOut as dicts) as plain text, SRT or WebVTT."""
    if fmt == "srt":
        import srt

        subs = [srt.Subtitle(k + 1, dt.timedelta(seconds=s["start"]), dt.timedelta(seconds=s["end"]), s["text"])
                for k, s in enumerate(segments)]
        return srt.compose(subs, reindex=False)
    if fmt == "vtt":
        from webvtt import Caption, WebVTT

        vtt = WebVTT(captions=[Caption(_vtt_time(s["start"]), _vtt_time(s["end"]), s["text"]) for s in segments])
        return vtt.content
    if fmt == "text":
        return "".join(f"[{_clock(s['start'])}] {s['text']}\n" for s in segments)
    raise QueryError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def _vtt_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _clock(t: float) -> str:
    s = int(t)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}.{int(round((t - s) * 10)) % 10}"
