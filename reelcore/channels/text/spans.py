"""The same line seen in consecutive reads becomes one record with a time span.

A line read now continues an open record when its text is fuzzy-equal (OCR reads the same
title slightly differently frame to frame) and its box overlaps the record's last box, or when
its text is exactly equal (a moving title: the box moved). A record not seen in a read is closed.
Of the readings of one record the text kept is the one read with the highest confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidfuzz import fuzz

from .engine import OcrLine

Box = tuple[float, float, float, float]  # x0, y0, x1, y1; normalised to 0..1 of the frame
SAME_TEXT = 80.0  # rapidfuzz ratio (0..100) above which two readings are the same line


@dataclass
class TextRecord:
    """One line of on-screen text over a time span (seconds from the start of the file)."""

    text: str
    box: Box
    confidence: float
    t_start: float
    t_end: float
    seen: int = 1  # reads that saw it

    @property
    def source(self) -> str:
        return "ocr"


@dataclass
class _Open:
    rec: TextRecord
    last_box: Box
    last_seen: float
    texts: list[tuple[float, str]] = field(default_factory=list)  # (confidence, text)


def normalise_box(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return (round(max(0.0, x0 / width), 4), round(max(0.0, y0 / height), 4),
            round(min(1.0, x1 / width), 4), round(min(1.0, y1 / height), 4))


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box (0..1): a line read a little shorter still overlaps."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / small if small > 0 else 0.0


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def same_line(text: str, box: Box, o: _Open) -> bool:
    a, b = _key(text), _key(o.rec.text)
    if a == b:
        return True
    return overlap(box, o.last_box) >= 0.5 and fuzz.ratio(a, b) >= SAME_TEXT


def same_record(a: TextRecord, b: TextRecord) -> bool:
    """Two records of the same line (same place, fuzzy-equal text)."""
    return overlap(a.box, b.box) >= 0.5 and fuzz.ratio(_key(a.text), _key(b.text)) >= SAME_TEXT


def join(into: TextRecord, later: TextRecord) -> None:
    """`later` (the same line, seen again after a read missed it) joins `into`."""
    if later.confidence > into.confidence:
        into.text, into.confidence = later.text, later.confidence
    into.t_end = max(into.t_end, later.t_end)
    into.seen += later.seen


class Joiner:
    """Joins records of the same line that a missed read split (`gap` seconds or less apart) and
    hands each record on once no later record can join it any more."""

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self.recent: list[TextRecord] = []

    def add(self, recs: list[TextRecord], now: float) -> list[TextRecord]:
        """Take finished records; return those that are final (ended more than `gap` before `now`)."""
        for r in sorted(recs, key=lambda r: r.t_start):
            prev = next((p for p in self.recent if p.t_end >= r.t_start - self.gap and same_record(p, r)), None)
            if prev is None:
                self.recent.append(r)
            else:
                join(prev, r)
        final = [r for r in self.recent if r.t_end < now - self.gap]
        self.recent = [r for r in self.recent if r.t_end >= now - self.gap]
        return final

    def flush(self) -> list[TextRecord]:
        out, self.recent = self.recent, []
        return out


class SpanTracker:
    """Feed it the lines of each read frame in time order; it yields finished records."""

    def __init__(self) -> None:
        self.open: list[_Open] = []

    def feed(self, t: float, lines: list[OcrLine], width: int,
             height: int) -> tuple[list[TextRecord], list[TextRecord]]:
        """(records closed by this read, records opened by it). Every line continues at most one
        open record and every open record takes at most one line."""
        taken: set[int] = set()
        opened: list[TextRecord] = []
        for line in lines:
            box = normalise_box(line.box, width, height)
            match = next((k for k, o in enumerate(self.open) if k not in taken and same_line(line.text, box, o)), None)
            if match is None:
                rec = TextRecord(line.text, box, line.confidence, t, t)
                self.open.append(_Open(rec, box, t, [(line.confidence, line.text)]))
                taken.add(len(self.open) - 1)
                opened.append(rec)
                continue
            o = self.open[match]
            taken.add(match)
            o.last_box, o.last_seen = box, t
            o.rec.t_end = t
            o.rec.seen += 1
            o.texts.append((line.confidence, line.text))
            best = max(o.texts)
            o.rec.text, o.rec.confidence = best[1], round(best[0], 4)
        closed = [o.rec for k, o in enumerate(self.open) if k not in taken]
        self.open = [o for k, o in enumerate(self.open) if k in taken]
        return closed, opened

    def close_all(self) -> list[TextRecord]:
        out = [o.rec for o in self.open]
        self.open = []
        return out
