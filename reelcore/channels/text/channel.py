"""TextChannel: on-screen text (slates, titles, lower thirds, signs) as time-coded line records.

One decode pass (frames.py); the gate (gate.py) picks the few frames worth reading; the engine
(engine.py) reads them; spans.py joins readings of the same line into one record. Between two
reads the gate's small luma pictures are kept, so a record's start is moved back to the first
kept picture where its box already looked as it does when read, and its end forward to the last
kept picture where it still did: sparse reads, start times to within `check_interval`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ... import decode
from .engine import OcrEngine, OcrLine, shared_engine
from .frames import Decoded, decoded_frames
from .gate import FrameGate, GateSettings, text_region
from .spans import Box, Joiner, SpanTracker, TextRecord

try:  # the channel interface of the speech issue (reelcore/channels/base.py, branch `speech`)
    from ..base import Channel, ChannelError
except ImportError:  # pragma: no cover - branch `text` alone, before the channel core is merged
    Channel = object  # type: ignore[assignment,misc]

    class ChannelError(Exception):  # type: ignore[no-redef]
        """This channel cannot analyse this file."""


WRITTEN = "written"
VERSION = "text1"  # bump when reading or joining changes what records a file gives
REGION_MAD = 12.0  # mean abs grey difference (0..255) under which a flat region "looks the same"
EDGE = 30.0  # grey step between neighbouring pixels of the gate's picture that counts as a stroke edge

OnTextRecords = Callable[[list[TextRecord]], None]


@dataclass(frozen=True)
class TextSettings:
    enabled: bool = True
    gate: GateSettings = field(default_factory=GateSettings)
    det_side: int = 960  # detector input, longer side in pixels (cost grows with its square)
    min_confidence: float = 0.8  # lines read with less are dropped (texture read as text scores lower)
    threads: int = 0  # ONNX Runtime threads; 0 = all cores


@dataclass
class TextAnalysis:
    records: list[TextRecord] = field(default_factory=list)
    seconds: float = 0.0  # media time covered
    note: str | None = None
    complete: bool = True
    frames_checked: int = 0  # pictures the gate looked at
    frames_read: int = 0  # pictures the OCR engine read
    ocr_seconds: float = 0.0  # wall time spent in the engine
    reasons: dict[str, int] = field(default_factory=dict)  # why pictures were looked at (gate.why)


class TextChannel(Channel):
    name = "text"
    evidence = WRITTEN
    needs = ("frames",)

    def __init__(self, settings: TextSettings | None = None, engine: OcrEngine | None = None) -> None:
        self.s = settings or TextSettings()
        self.engine = engine or shared_engine(self.s.det_side, self.s.min_confidence, self.s.threads)

    @property
    def enabled(self) -> bool:
        return self.s.enabled

    @property
    def identity(self) -> str:
        g = self.s.gate
        return f"{VERSION}-{self.engine.identity}-g{g.check_interval:g}-{g.min_gap:g}-{g.max_gap:g}"

    def _read(self, rgb: np.ndarray, gate: FrameGate, small: np.ndarray) -> list[OcrLine]:
        """Read the part of the picture around its text-like blocks (all of it when they are spread)."""
        region = text_region(gate.text, small.shape, rgb.shape[:2]) if gate.text is not None else None
        if region is None:
            return self.engine.read(rgb)
        return _read_region(self.engine, rgb, region)

    def analyse(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                on_records: OnTextRecords | None = None) -> TextAnalysis:
        """Text records of one file (time order of start). Raises ChannelError for a file that
        cannot be decoded. `on_records` gets records as they are finished (a long file commits as
        it goes); `resume_at` skips the pictures before it."""
        import time

        out = TextAnalysis()
        gate = FrameGate(self.s.gate)
        spans = SpanTracker()
        patches: dict[int, tuple[Box, np.ndarray]] = {}  # id(record) -> (box, its region) when last seen
        kept: list[tuple[float, np.ndarray]] = []  # gate pictures since the last read (incl. it)
        report = decode.DecodeReport()
        done: list[TextRecord] = []
        joiner = Joiner(self.s.gate.min_gap + self.s.gate.check_interval)

        def finish(recs: list[TextRecord], now: float, last: bool = False) -> None:
            for r in recs:
                r.t_end = round(_end(r, patches.pop(id(r), None), kept, now), 3)
                r.t_start = round(r.t_start, 3)
            final = joiner.add(recs, now) + (joiner.flush() if last else [])
            done.extend(final)
            if final and on_records is not None:
                on_records(sorted(final, key=lambda r: r.t_start))

        last: Decoded | None = None
        try:
            for d in decoded_frames(path, stop, report):
                last = d
                if d.t < resume_at or not gate.due(d.t):
                    continue
                small = d.small()
                cut, read = gate.look(d.t, small)
                if cut and spans.open:  # a new shot: what was on screen ended with the last one
                    finish(spans.close_all(), d.t)
                if not read:
                    kept.append((d.t, small))
                    continue
                rgb = d.rgb()
                t0 = time.perf_counter()
                lines = self._read(rgb, gate, small)
                out.ocr_seconds += time.perf_counter() - t0
                out.frames_read += 1
                closed, opened = spans.feed(d.t, lines, rgb.shape[1], rgb.shape[0])
                finish(closed, d.t)
                for r in opened:
                    r.t_start = _start(r.box, small, kept, d.t)
                for o in spans.open:
                    patches[id(o.rec)] = (o.last_box, _region(small, o.last_box))
                kept = [(d.t, small)]
        except decode.DecodeError as e:
            raise ChannelError(str(e)) from None
        end = report.end + (0.04 if last is not None else 0.0)
        if stop.is_set():
            out.complete = False
        finish(spans.close_all(), end, last=True)
        out.records = sorted(done, key=lambda r: (r.t_start, r.box[1]))
        out.seconds = round(end, 3)
        out.frames_checked = gate.checked
        out.reasons = dict(gate.why)
        if report.decode_errors:
            out.note = f"{report.decode_errors} decode errors skipped" + (f" ({report.note})" if report.note else "")
        return out


def _read_region(engine: OcrEngine, rgb: np.ndarray, region: tuple[int, int, int, int]) -> list[OcrLine]:
    x0, y0, x1, y1 = region
    lines = engine.read(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return [OcrLine(ln.text, (ln.box[0] + x0, ln.box[1] + y0, ln.box[2] + x0, ln.box[3] + y0), ln.confidence)
            for ln in lines]


def _region(small: np.ndarray, box: Box) -> np.ndarray:
    h, w = small.shape
    x0, y0 = max(0, int(box[0] * w) - 1), max(0, int(box[1] * h) - 1)
    x1, y1 = min(w, int(np.ceil(box[2] * w)) + 1), min(h, int(np.ceil(box[3] * h)) + 1)
    return small[y0:y1, x0:x1].astype(np.float32)


def _same(then: np.ndarray | None, now: np.ndarray) -> bool:
    """Whether a box region still shows what it showed: most of the stroke edges it had are still
    there (text over a moving picture keeps its edges while the picture behind it changes), or,
    for a region with few edges, its grey is about the same."""
    if then is None or then.shape != now.shape or then.size == 0:
        return False
    e_then = np.abs(np.diff(then, axis=1)) >= EDGE
    n = int(e_then.sum())
    if n < 8:
        return float(np.abs(then - now).mean()) < REGION_MAD
    e_now = np.abs(np.diff(now, axis=1)) >= EDGE
    return int((e_then & e_now).sum()) >= 0.5 * n


def _start(box: Box, small: np.ndarray, kept: list[tuple[float, np.ndarray]], t: float) -> float:
    """Earliest kept picture from which on the box looked as it does at `t` (kept[0] was read)."""
    here = _region(small, box)
    start = t
    for tk, pic in reversed(kept[1:]):
        if not _same(_region(pic, box), here):
            break
        start = tk
    return round(start, 3)


def _end(r: TextRecord, last: tuple[Box, np.ndarray] | None, kept: list[tuple[float, np.ndarray]],
         now: float) -> float:
    """The first kept picture after the record was last seen where its box no longer looks the
    same (or `now`, the read that missed it)."""
    if last is not None:
        box, patch = last
        for tk, pic in kept[1:]:
            if tk > r.t_end and not _same(patch, _region(pic, box)):
                return tk
    return max(now, r.t_end)
