"""TextChannel: on-screen text (slates, titles, lower thirds, signs) as time-coded line records.

One decode pass (frames.py); the gate (gate.py) picks the few frames worth reading; the engine
(engine.py) reads them; spans.py joins readings of the same line into one record. `TextReader`
does all but the decoding, so a decode shared with the visual pass can feed it instead. Between two
reads the gate's small luma pictures are kept, so a record's start is moved back to the first
kept picture where its box already looked as it does when read, and its end forward to the last
kept picture where it still did: sparse reads, start times to within `check_interval`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...config import TextSettings as TextConfig
from ...media import decode
from ..base import WRITTEN, Analysis, Channel, ChannelError, ChannelUnavailable
from .engine import OcrEngine, OcrLine, shared_engine
from .frames import decoded_frames
from .gate import FrameGate, GateSettings, text_region
from .sink import TextSink
from .spans import Box, Joiner, SpanTracker, TextRecord
from .tap import TappedText, TextTap

VERSION = "text1"  # bump when reading or joining changes what records a file gives
REGION_MAD = 12.0  # mean abs grey difference (0..255) under which a flat region "looks the same"
EDGE = 30.0  # grey step between neighbouring pixels of the gate's picture that counts as a stroke edge

log = logging.getLogger(__name__)

OnTextRecords = Callable[[list[TextRecord]], None]


@dataclass(frozen=True)
class TextSettings:
    enabled: bool = True
    gate: GateSettings = field(default_factory=GateSettings)
    det_side: int = 960  # detector input, longer side in pixels (cost grows with its square)
    min_confidence: float = 0.8  # lines read with less are dropped (texture read as text scores lower)
    threads: int = 0  # ONNX Runtime threads; 0 = all cores


def settings_from(cfg: TextConfig) -> TextSettings:
    """The channel's settings from the `[channels.text]` section (config.example.toml)."""
    d = GateSettings()
    gate = GateSettings(max_gap=cfg.max_gap, min_gap=min(d.min_gap, cfg.max_gap),
                        event_gap=min(d.event_gap, cfg.max_gap))
    return TextSettings(enabled=cfg.enabled, gate=gate, det_side=cfg.det_side, min_confidence=cfg.min_confidence)


@dataclass
class TextAnalysis(Analysis):
    """What one text pass found: line records (not transcript segments) and what the gate did."""

    records: list[TextRecord] = field(default_factory=list)
    frames_checked: int = 0  # pictures the gate looked at
    frames_read: int = 0  # pictures the OCR engine read
    ocr_seconds: float = 0.0  # wall time spent in the engine
    reasons: dict[str, int] = field(default_factory=dict)  # why pictures were looked at (gate.why)
    tapped: bool = False  # read from the visual pass's decode (tap.py), not a decode of its own


class TextChannel(Channel):
    name = "text"
    evidence = WRITTEN
    needs = ("frames",)

    def __init__(self, settings: TextSettings | None = None, engine: OcrEngine | None = None,
                 prefix: str = "reelfind", where: str = "the vector store") -> None:
        self.s = settings or TextSettings()
        self.engine = engine or shared_engine(self.s.det_side, self.s.min_confidence, self.s.threads)
        self.prefix, self.where = prefix, where  # the store's collection prefix, and where it is (errors)

    @property
    def enabled(self) -> bool:
        return self.s.enabled

    @property
    def identity(self) -> str:
        # Every gate setting changes which pictures are read, so all of them are in the identity.
        gate = hashlib.sha1(repr(self.s.gate).encode()).hexdigest()[:8]
        return f"{VERSION}-{self.engine.identity}-gate{gate}"

    def analyse(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                on_records: OnTextRecords | None = None) -> TextAnalysis:
        """Text records of one file (time order of start). Raises ChannelError for a file that
        cannot be decoded. `on_records` gets records as they are finished (a long file commits as
        it goes); `resume_at` skips the pictures before it."""
        try:
            self.engine.load()
        except ImportError as e:  # pragma: no cover - rapidocr-onnxruntime is a dependency
            raise ChannelUnavailable(f"the OCR engine cannot be loaded: {e}") from e
        reader = TextReader(self.s, self.engine, on_records)
        report = decode.DecodeReport()
        seen_any = False
        try:
            for d in decoded_frames(path, stop, report):
                seen_any = True
                if d.t >= resume_at and reader.wants(d.t):
                    reader.feed(d.t, d.small(), d.rgb)
        except decode.DecodeError as e:
            raise ChannelError(str(e)) from None
        out = reader.finish(report.end + (0.04 if seen_any else 0.0))
        out.complete = not stop.is_set()
        if report.decode_errors:
            out.note = f"{report.decode_errors} decode errors skipped" + (f" ({report.note})" if report.note else "")
        return out

    def tap(self, spool_dir: Path) -> TextTap:
        return TextTap(self.s.gate, spool_dir)

    def analyse_tapped(self, tapped: Any, path: str, stop: threading.Event, resume_at: float = 0.0,
                       on_records: OnTextRecords | None = None) -> TextAnalysis:
        """`analyse` from the pictures the visual pass's decode kept (tap.py): the same pictures,
        looked at by the same gate, so the same records, without decoding the file again (nor
        running the gate again). Falls back to `analyse` when the tap does not fit (a resume; a
        picture to read that it did not keep)."""
        if not isinstance(tapped, TappedText) or resume_at > 0:
            return self.analyse(path, stop, resume_at, on_records)
        try:
            self.engine.load()
        except ImportError as e:  # pragma: no cover - rapidocr-onnxruntime is a dependency
            raise ChannelUnavailable(f"the OCR engine cannot be loaded: {e}") from e
        found: list[list[TextRecord]] = []  # held back until the replay is known to fit
        reader = TextReader(self.s, self.engine, found.append)
        try:
            for k in tapped.kept:
                if stop.is_set():
                    break
                reader.feed_looked(k.t, tapped.small(k), lambda k=k: tapped.picture(k), k.cut, k.read, k.text)
        except LookupError as e:
            log.warning("text: %s: %s; decoding the file instead", path, e)
            return self.analyse(path, stop, resume_at, on_records)
        end = tapped.last_t + 0.04 if tapped.last_t is not None else 0.0
        out = reader.finish(end)
        out.frames_checked, out.reasons = tapped.checked, dict(tapped.why)
        out.complete = not stop.is_set()
        out.tapped = True
        if on_records is not None:
            for recs in found:
                on_records(recs)
        return out

    def sink(self, frame_store: Any) -> TextSink:
        return TextSink(frame_store, self.prefix, self.identity, self.where)


class TextReader:
    """Pictures in (time order), text records out, whoever decodes: the channel's own pass, or a
    decode shared with the visual pass (call `wants(t)` per decoded picture, then `feed`)."""

    def __init__(self, settings: TextSettings, engine: OcrEngine, on_records: OnTextRecords | None = None) -> None:
        self.s, self.engine, self.on_records = settings, engine, on_records
        self.gate = FrameGate(settings.gate)
        self.spans = SpanTracker()
        self.patches: dict[int, tuple[Box, np.ndarray]] = {}  # id(record) -> (box, its region) when last seen
        self.kept: list[tuple[float, np.ndarray]] = []  # gate pictures since the last read (incl. it)
        self.joiner = Joiner(settings.gate.min_gap + settings.gate.check_interval)
        self.out = TextAnalysis()

    def wants(self, t: float) -> bool:
        """Whether the picture at `t` is one to feed (else skip it without converting it)."""
        return self.gate.due(t)

    def feed(self, t: float, small: np.ndarray, rgb: Callable[[], np.ndarray]) -> None:
        """One picture: its luma picture (about 480 wide, see frames.Decoded.small) and a way to
        get its full RGB picture, called only when it is read."""
        cut, read = self.gate.look(t, small)
        self._take(t, small, rgb, cut, read)

    def feed_looked(self, t: float, small: np.ndarray, rgb: Callable[[], np.ndarray], cut: bool, read: bool,
                    text: np.ndarray | None) -> None:
        """One picture the same gate settings already looked at (a tap: tap.py), with what it
        decided and, for a picture to read, its text-like blocks; the gate does not run again."""
        self.gate.next_check = t + self.s.gate.check_interval
        self.gate.text = text
        self._take(t, small, rgb, cut, read)

    def _take(self, t: float, small: np.ndarray, rgb: Callable[[], np.ndarray], cut: bool, read: bool) -> None:
        if cut and self.spans.open:  # a new shot: what was on screen ended with the last one
            self._finish(self.spans.close_all(), t)
        if not read:
            self.kept.append((t, small))
            return
        picture = rgb()
        t0 = time.perf_counter()
        lines = self._read(picture, small)
        self.out.ocr_seconds += time.perf_counter() - t0
        self.out.frames_read += 1
        closed, opened = self.spans.feed(t, lines, picture.shape[1], picture.shape[0])
        self._finish(closed, t)
        for r in opened:
            r.t_start = _start(r.box, small, self.kept, t)
        for o in self.spans.open:
            self.patches[id(o.rec)] = (o.last_box, _region(small, o.last_box))
        self.kept = [(t, small)]

    def finish(self, end: float) -> TextAnalysis:
        """Close what is still on screen at `end` (seconds) and return everything found."""
        self._finish(self.spans.close_all(), end, last=True)
        out = self.out
        out.records.sort(key=lambda r: (r.t_start, r.box[1]))
        out.seconds = round(end, 3)
        out.frames_checked = self.gate.checked
        out.reasons = dict(self.gate.why)
        return out

    def _finish(self, recs: list[TextRecord], now: float, last: bool = False) -> None:
        for r in recs:
            r.t_end = round(_end(r, self.patches.pop(id(r), None), self.kept, now), 3)
            r.t_start = round(r.t_start, 3)
        final = self.joiner.add(recs, now) + (self.joiner.flush() if last else [])
        self.out.records.extend(final)
        if final and self.on_records is not None:
            self.on_records(sorted(final, key=lambda r: r.t_start))

    def _read(self, rgb: np.ndarray, small: np.ndarray) -> list[OcrLine]:
        """Read the part of the picture around its text-like blocks."""
        if self.gate.text is None:
            return self.engine.read(rgb)
        return _read_region(self.engine, rgb, text_region(self.gate.text, small.shape, rgb.shape[:2]))


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
