"""Runs the passes of the non-visual channels (today: speech) after a file's visual pass.

Visual comes first: `reelfind index` runs these after all its visual work, the service's worker
only when its queue has no visual job (and a pass yields as soon as one comes: `should_yield`).
A pass that fails marks this channel failed with its reason; the file's visual state is never
touched. Enabling a channel or changing its identity makes every indexed file due for that
channel alone (a backfill); a changed sidecar makes one file due again (`refresh`). Records of
files that are gone (or of an older version of a file) are removed by `heal`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..catalog import FAILED, INDEXED, Catalog, FileRecord
from ..config import Settings
from ..store import StoreError
from .base import ChannelError, ChannelUnavailable, Segment
from .speech.channel import SpeechChannel
from .speech.reader import SpeechIndex, speech_index
from .state import ChannelStates

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
    """The speech channel's passes over catalogued files (more channels plug in beside it)."""

    def __init__(self, settings: Settings, catalog: Catalog, frame_store: object) -> None:
        self.settings = settings
        self.catalog = catalog
        self.frame_store = frame_store
        self.speech = SpeechChannel(settings)
        self.states = ChannelStates(catalog, self.speech.name)
        self.current: dict | None = None  # the pass running now (for status)

    @property
    def enabled(self) -> bool:
        return self.speech.enabled

    def index(self) -> SpeechIndex:
        return speech_index(self.settings, self.frame_store, self.speech.identity)

    # -- housekeeping --------------------------------------------------------------------------
    def heal(self) -> int:
        """Remove the records of video ids no file refers to any more (store first, then the row)."""
        gone = self.states.orphans()
        if gone and self.enabled:
            idx = self.index()
            for vid in gone:
                idx.delete_video(vid)
                self.states.drop(vid)
        return len(gone)

    def refresh(self, prefix: str | None = None) -> int:
        """Files whose sidecars changed since their pass: due again (this channel only)."""
        if not self.enabled:
            return 0
        n = 0
        identity = self.speech.identity
        for rec, row in self.states.done_sources(prefix):
            if row.identity == identity and (row.source_sig or "") != self.speech.source_signature(rec.path):
                self.states.mark_pending(rec.video_id)
                n += 1
        return n

    def due(self, prefix: str | None = None, limit: int = 50) -> list[FileRecord]:
        if not self.enabled:
            return []
        return self.states.due(self.speech.identity, self.settings.daemon.max_attempts, limit, prefix)

    # -- passes --------------------------------------------------------------------------------
    def run(self, rec: FileRecord, stop: threading.Event,
            should_yield: Callable[[], bool] | None = None) -> ChannelOutcome:
        """One file's speech pass. Never raises for a file's problem; a StoreError propagates (not the
        file's fault: the row goes back to pending)."""
        ch, vid = self.speech, rec.video_id
        cur = self.catalog.get(rec.path)
        if cur is None or cur.video_id != vid or cur.state != INDEXED:
            return ChannelOutcome(rec.path, ch.name, INTERRUPTED, reason="file changed since it was queued")
        row = self.states.start(vid, ch.identity)
        limit = self.settings.daemon.max_attempts
        if row.attempts > limit:
            why = (f"given up after {row.attempts - 1} speech passes that never finished (the process died "
                   f"or hung on this file){'; last: ' + row.error if row.error else ''}")
            self.states.fail(vid, ch.identity, why, ch.source_signature(rec.path))
            return ChannelOutcome(rec.path, ch.name, FAILED, reason=why)
        halt = _Either(stop, should_yield)
        resume_at = (row.cursor_ms or 0) / 1000
        # A pass killed or stopped mid-way committed records up to its cursor: keep them, go on from there.
        # (The store is opened only when needed: a pass that ends before writing never connects.)
        prior = self.index().store.video(vid) if row.cursor_ms else []
        committed = {"n": len(prior)}

        def on_records(segs: list[Segment]) -> None:  # a long pass (ASR) commits as it goes
            if segs:
                self.index().replace_video(vid, cur.path, segs, committed["n"])
                committed["n"] += len(segs)
                self.states.progress(vid, round(segs[-1].end * 1000), committed["n"])

        self.current = {"path": rec.path, "channel": ch.name, "started": time.time()}
        try:
            if prior:
                log.info("speech: resuming %s after %.1f s", rec.path, resume_at)
            an = ch.analyse(rec.path, halt, resume_at, on_records)
            if halt.is_set() or not an.complete:
                self.states.interrupted(vid, row.attempts)
                return ChannelOutcome(rec.path, ch.name, INTERRUPTED, committed["n"])
            segments = sorted([*prior, *an.segments], key=lambda x: (x.start, x.end))
            self.index().replace_video(vid, cur.path, segments)
            self.states.finish(vid, len(segments), an.seconds or rec.duration, an.note, an.source_sig)
            log.info("speech: %s: %d segments%s", rec.path, len(segments), f" ({an.note})" if an.note else "")
            return ChannelOutcome(rec.path, ch.name, INDEXED, len(segments), an.seconds, an.note)
        except (StoreError, ChannelUnavailable):
            self.states.interrupted(vid, row.attempts)  # not the file's fault: the attempt is given back
            raise
        except ChannelError as e:
            return self._fail(rec, str(e))
        except Exception as e:  # a bug or an odd file must not stop the other channels or files
            log.exception("speech pass failed on %s", rec.path)
            return self._fail(rec, f"internal error: {type(e).__name__}: {e}")
        finally:
            self.current = None

    def _fail(self, rec: FileRecord, reason: str) -> ChannelOutcome:
        log.warning("speech failed: %s: %s", rec.path, reason)
        self.states.fail(rec.video_id, self.speech.identity, reason, self.speech.source_signature(rec.path))
        return ChannelOutcome(rec.path, self.speech.name, FAILED, reason=reason)

    def run_due(self, stop: threading.Event, prefix: str | None = None,
                should_yield: Callable[[], bool] | None = None,
                on_outcome: Callable[[ChannelOutcome], None] | None = None, max_files: int | None = None,
                ) -> list[ChannelOutcome]:
        """Passes for due files until none is left, `stop`, `should_yield` or `max_files`."""
        outcomes: list[ChannelOutcome] = []
        if not self.enabled:
            return outcomes
        self.heal()
        tried: set[str] = set()
        while not stop.is_set() and not (should_yield and should_yield()):
            batch = [r for r in self.due(prefix) if r.video_id not in tried]
            if not batch:
                break
            for rec in batch:
                if stop.is_set() or (should_yield and should_yield()) or (
                        max_files is not None and len(outcomes) >= max_files):
                    return outcomes
                tried.add(rec.video_id)
                out = self.run(rec, stop, should_yield)
                outcomes.append(out)
                if on_outcome is not None:
                    on_outcome(out)
        return outcomes

    def forget(self) -> int:
        """Delete every record and row of this channel (all identities): `reelfind forget --channel`."""
        from .speech.store import SpeechStore

        client = self.frame_store._client  # type: ignore[attr-defined]
        from .speech.reader import forget_indexes

        forget_indexes(self.frame_store)
        for name in SpeechStore.collections(client, self.settings.store.collection_prefix):
            try:
                client.delete_collection(name)
            except Exception as e:
                raise StoreError(f"cannot delete the speech collection {name}: {e}") from e
        fts_dir = self.settings.data_dir / "speech-fts"
        if fts_dir.is_dir():
            for f in fts_dir.iterdir():
                f.unlink(missing_ok=True)
        return self.states.drop_all()


class _Either(threading.Event):
    """An event that is set when `stop` is, or when `should_yield()` says so (checked on each look)."""

    def __init__(self, stop: threading.Event, should_yield: Callable[[], bool] | None) -> None:
        super().__init__()
        self._stop, self._yield = stop, should_yield

    def is_set(self) -> bool:
        if self._stop.is_set() or (self._yield is not None and self._yield()):
            self.set()
        return super().is_set()
