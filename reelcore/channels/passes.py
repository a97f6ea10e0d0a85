"""Runs the passes of the non-visual channels (speech, people; registry.py) after a file's visual pass.

Visual comes first: `reelcore index` runs these after all its visual work, the service's worker
only when its queue has no visual job (and a pass yields as soon as one comes: `should_yield`).
Channels take turns in the registry's order, each over its due files. A pass that fails marks
that channel failed with its reason; the file's visual state and other channels are never touched.
Enabling a channel or changing its identity makes every indexed file due for that channel alone
(a backfill); a changed sidecar makes one file due again (`refresh`). Records of files that are
gone (or of an older version of a file) are removed by `heal`. Every channel is driven alike,
through its `RecordSink` (base.py): a resumable one commits as it goes and resumes after its cursor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..storage.catalog import FAILED, INDEXED, Catalog, FileRecord
from ..storage.store import StoreError
from .base import Channel, ChannelError, ChannelUnavailable, RecordSink
from .registry import all_channels
from .state import ChannelStates
from .taps import TapBoard

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"


@dataclass
class ChannelOutcome:
    path: str
    channel: str
    state: str  # indexed | failed | interrupted
    records: int = 0
    seconds: float = 0.0
    reason: str | None = None


class ChannelPasses:
    """Every non-visual channel's passes over catalogued files."""

    def __init__(self, settings: Settings, catalog: Catalog, frame_store: object,
                 channels: list[Channel] | None = None, taps: TapBoard | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.frame_store = frame_store
        self.channels = channels if channels is not None else all_channels(settings)
        self._sinks: dict[str, RecordSink] = {}
        self.held_files: dict[str, set[str]] = {}  # channel -> video ids waiting for its held engine
        self.current: dict | None = None  # the pass running now (for status)
        self.taps = taps  # what the visual pass's decode kept for a channel (taps.py), or None

    def channel(self, name: str) -> Channel:
        for c in self.channels:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def speech(self) -> Any:  # the speech channel (the worker sets its wait_for_model)
        return self.channel("speech")

    @property
    def enabled(self) -> bool:
        return any(c.enabled for c in self.channels)

    def _on(self, name: str | None = None) -> list[Channel]:
        return [c for c in self.channels if c.enabled and (name is None or c.name == name)]

    def states(self, ch: Channel) -> ChannelStates:
        return ChannelStates(self.catalog, ch.name)

    def sink(self, ch: Channel) -> RecordSink:
        key = f"{ch.name}:{ch.identity}"
        if key not in self._sinks:
            self._sinks[key] = ch.sink(self.frame_store)
        return self._sinks[key]

    # -- housekeeping --------------------------------------------------------------------------
    def heal(self) -> int:
        """Remove the records of video ids no file refers to any more (store first, then the row).
        A disabled channel's orphans wait: its store is not opened while it is off."""
        n = 0
        for ch in self._on():
            states = self.states(ch)
            gone = states.orphans()
            for vid in gone:
                self.sink(ch).delete_video(vid)
                states.drop(vid)
            n += len(gone)
        return n

    def refresh(self, prefix: str | None = None) -> int:
        """Files whose sidecars changed since their pass: due again (that channel only)."""
        n = 0
        for ch in self._on():
            identity, states = ch.identity, self.states(ch)
            for rec, row in states.done_sources(prefix):
                if row.identity == identity and (row.source_sig or "") != ch.source_signature(rec.path):
                    states.mark_pending(rec.video_id)
                    n += 1
        return n

    def due(self, prefix: str | None = None, limit: int = 50,
            channel: str | None = None) -> list[tuple[Channel, FileRecord]]:
        """(channel, file) pairs whose pass is due, channel by channel in the registry's order."""
        out: list[tuple[Channel, FileRecord]] = []
        for ch in self._on(channel):
            recs = self.states(ch).due(ch.identity, self.settings.daemon.max_attempts, limit - len(out), prefix)
            out += [(ch, r) for r in recs]
            if len(out) >= limit:
                break
        return out

    # -- passes --------------------------------------------------------------------------------
    def run(self, ch: Channel, rec: FileRecord, stop: threading.Event,
            should_yield: Callable[[], bool] | None = None) -> ChannelOutcome:
        """One file's pass of one channel. Never raises for a file's problem; a StoreError propagates
        (not the file's fault: the row goes back to pending), as does ChannelUnavailable."""
        vid, states = rec.video_id, self.states(ch)
        cur = self.catalog.get(rec.path)
        if cur is None or cur.video_id != vid or cur.state != INDEXED:
            return ChannelOutcome(rec.path, ch.name, INTERRUPTED, reason="file changed since it was queued")
        row = states.start(vid, ch.identity)
        limit = self.settings.daemon.max_attempts
        if row.attempts > limit:
            why = (f"given up after {row.attempts - 1} {ch.name} passes that never finished (the process died "
                   f"or hung on this file){'; last: ' + row.error if row.error else ''}")
            states.fail(vid, ch.identity, why, ch.source_signature(rec.path))
            return ChannelOutcome(rec.path, ch.name, FAILED, reason=why)
        halt = _Either(stop, should_yield)
        sink = self.sink(ch)
        # A resumable pass killed or stopped mid-way committed records up to its cursor: keep them and
        # go on from there. (The store is opened only when needed: a pass that writes nothing never connects.)
        prior = sink.committed(vid) if sink.resumable and row.cursor_ms else []
        resume_at = (row.cursor_ms or 0) / 1000 if prior else 0.0
        committed = {"n": len(prior)}

        def on_records(records: list[Any]) -> None:  # a long pass (ASR) commits as it goes
            if records and sink.resumable:
                cursor = sink.append(vid, cur.path, records, committed["n"])
                committed["n"] += len(records)
                states.progress(vid, round(cursor * 1000), committed["n"])

        self.current = {"path": rec.path, "channel": ch.name, "started": time.time()}
        try:
            reused = None if prior else self._reuse(ch, cur, sink)
            if reused is not None:
                return reused
            if prior:
                log.info("%s: resuming %s after %.1f s", ch.name, rec.path, resume_at)
            tap = self.taps.take(ch.name, vid, ch.identity) if self.taps is not None else None
            tapped = tap.result() if tap is not None else None
            try:
                if tapped is not None:  # the visual pass's decode kept what this channel needs
                    an = ch.analyse_tapped(tapped, rec.path, halt, resume_at, on_records)
                else:
                    an = ch.analyse(rec.path, halt, resume_at, on_records)
            finally:
                if tap is not None:
                    tap.discard()
            if halt.is_set() or not an.complete:
                states.interrupted(vid, row.attempts)
                return ChannelOutcome(rec.path, ch.name, INTERRUPTED, committed["n"])
            n = sink.commit(vid, cur.path, an, prior)
            states.finish(vid, n, an.seconds or rec.duration, an.note, getattr(an, "source_sig", None))
            via = ", read from the visual pass's decode" if getattr(an, "tapped", False) else ""
            log.info("%s: %s: %d records%s%s", ch.name, rec.path, n, via, f" ({an.note})" if an.note else "")
            return ChannelOutcome(rec.path, ch.name, INDEXED, n, an.seconds, an.note)
        except (StoreError, ChannelUnavailable) as e:
            states.interrupted(vid, row.attempts)  # not the file's fault: the attempt is given back
            if isinstance(e, ChannelUnavailable):
                e.channel = ch.name
            raise
        except ChannelError as e:
            return self._fail(ch, rec, str(e))
        except Exception as e:  # a bug or an odd file must not stop the other channels or files
            log.exception("%s pass failed on %s", ch.name, rec.path)
            return self._fail(ch, rec, f"internal error: {type(e).__name__}: {e}")
        finally:
            self.current = None

    def _reuse(self, ch: Channel, rec: FileRecord, sink: RecordSink) -> ChannelOutcome | None:
        """An identical copy of a file this channel is done with (same content fingerprint, same
        identity, same inputs beside it: `source_signature`) gets that file's records copied instead
        of a new pass (say, no second transcription). None: no such file, or the sink cannot copy."""
        sig, states = ch.source_signature(rec.path), self.states(ch)
        for other in self.catalog.by_fingerprint(rec.fingerprint) if rec.fingerprint else []:
            if other.video_id == rec.video_id or other.state != INDEXED:
                continue
            row = states.get(other.video_id)
            if row is None or row.state != INDEXED or row.identity != ch.identity or (row.source_sig or "") != sig:
                continue
            n = sink.copy_video(other.video_id, rec.video_id, rec.path, row.records)
            if n is None:
                continue
            states.finish(rec.video_id, n, row.seconds, row.note, row.source_sig)
            log.info("%s: %s is a copy of %s: its %d records reused", ch.name, rec.path, other.path, n)
            return ChannelOutcome(rec.path, ch.name, INDEXED, n, row.seconds or 0.0, row.note)
        return None

    def _fail(self, ch: Channel, rec: FileRecord, reason: str) -> ChannelOutcome:
        log.warning("%s failed: %s: %s", ch.name, rec.path, reason)
        self.states(ch).fail(rec.video_id, ch.identity, reason, ch.source_signature(rec.path))
        return ChannelOutcome(rec.path, ch.name, FAILED, reason=reason)

    def run_due(self, stop: threading.Event, prefix: str | None = None,
                should_yield: Callable[[], bool] | None = None,
                on_outcome: Callable[[ChannelOutcome], None] | None = None, max_files: int | None = None,
                only_path: str | None = None, skip: set[str] | frozenset[str] = frozenset(),
                ) -> list[ChannelOutcome]:
        """Passes for due files until none is left, `stop`, `should_yield` or `max_files` (passes).
        `only_path`: just that file (its folder is `prefix`); `skip`: channels not to run now (their
        engine is unavailable). A ChannelUnavailable propagates with its `channel` set."""
        outcomes: list[ChannelOutcome] = []
        if not self.enabled:
            return outcomes
        self.heal()
        tried: set[tuple[str, str]] = set()
        while not stop.is_set() and not (should_yield and should_yield()):
            batch = [(c, r) for c, r in self.due(prefix, 1_000_000 if only_path else 50)
                     if (c.name, r.video_id) not in tried and c.name not in skip
                     and r.video_id not in self.held_files.get(c.name, ())
                     and (only_path is None or r.path == only_path)]
            if not batch:
                break
            for ch, rec in batch:
                if stop.is_set() or (should_yield and should_yield()) or (
                        max_files is not None and len(outcomes) >= max_files):
                    return outcomes
                tried.add((ch.name, rec.video_id))
                try:
                    out = self.run(ch, rec, stop, should_yield)
                except ChannelUnavailable as e:
                    if not e.held:
                        raise
                    self.held_files.setdefault(ch.name, set()).add(rec.video_id)  # waits; the next may run
                    continue
                outcomes.append(out)
                if on_outcome is not None:
                    on_outcome(out)
        return outcomes

    def close(self) -> None:
        """End what the channels started (the speech recognition process)."""
        for c in self.channels:
            close = getattr(c, "close", None)
            if close is not None:
                close()

    def unhold(self, name: str) -> None:
        """The channel's engine may be tried again: its held files are due again."""
        self.channel(name).held = False
        self.held_files.pop(name, None)

    def forget(self, name: str) -> int:
        """Delete every record and row of one channel (all identities): `reelfind forget --channel`."""
        ch = self.channel(name)
        ch.sink(self.frame_store).forget()
        self._sinks = {k: v for k, v in self._sinks.items() if not k.startswith(f"{name}:")}
        return self.states(ch).drop_all()


class _Either(threading.Event):
    """An event that is set when `stop` is, or when `should_yield()` says so (checked on each look)."""

    def __init__(self, stop: threading.Event, should_yield: Callable[[], bool] | None) -> None:
        super().__init__()
        self._stop, self._yield = stop, should_yield

    def is_set(self) -> bool:
        if self._stop.is_set() or (self._yield is not None and self._yield()):
            self.set()
        return super().is_set()
