"""One file's try at indexing as the catalog records it: started, failed, cut short or finished.

- An attempt is counted when a try STARTS (persisted before anything decodes, probe included): a
  file that segfaults or wedges FFmpeg kills the process mid-file, and would otherwise be picked
  again after every restart. After `daemon.max_attempts` starts that never ended, the file is
  failed for good (until it changes) and `reelfind status` lists it. A try that stops for a reason
  that is not the file's (stop requested, model or store unavailable) gives its attempt back.
- A model switch writes the new identity and the reset cursor in that same first update.
- A decode cut short by an unreadable moment (read error, file changed or gone, root gone) is not a
  finished file: the row goes back to pending, keeps its cursor and what is stored, and says why.
  The same I/O error at the same place on the next try is a damaged spot: indexed with a note.
  Such a try DID end (cleanly, with a transient error): its attempt is given back and it is counted
  in `short_reads` instead, with its own longer backoff. A file on a flaky share is retried (less
  and less often, up to `daemon.retry_max_seconds` apart) and never failed as a crash.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..config import Settings
from ..media.decode import DecodeReport
from ..media.decodeguard import Snapshot, short_read
from ..storage.catalog import DELETE_VIDEO, FAILED, INDEXED, INDEXING, PENDING, Catalog, FileRecord
from ..storage.store import FrameStore, Thumbnails
from .discovery import heal_store_ops

log = logging.getLogger(__name__)


def retry_delay(attempts: int, base: float, cap: float) -> float:
    return min(cap, base * (2 ** max(0, attempts - 1)))


def short_read_delay(short_reads: int, base: float, cap: float) -> float:
    """Backoff after the n-th cut-short try: 4x the crash backoff's (a share that dropped is
    rarely back within a minute), doubling each time, capped like it."""
    return retry_delay(short_reads + 2, base, cap)


class Tries:
    """Catalog writes for the tries of one Indexer.

    Up to two files are in flight at once (the next file's decode starts while this one's last
    batches embed, see indexer.py), so a started try is remembered per path."""

    def __init__(self, settings: Settings, catalog: Catalog, store: FrameStore, thumbs: Thumbnails,
                 identity: str) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.thumbs = thumbs
        self.identity = identity
        self._started: dict[str, int] = {}  # path -> attempts before its try started

    def switch(self, rec: FileRecord) -> dict[str, Any]:
        """Catalog changes that take a file over to this model, empty if it is already this model's.

        Another model's progress (indexed, half-indexed or failed) says nothing about this model's
        collection: start from the beginning (the old vectors live in the old collection). The new
        identity and the reset cursor go into ONE catalog update: written apart, an interruption
        between them left the new identity beside the old cursor, and the next run resumed past
        frames this model never embedded (then called the file indexed). The old model's attempts
        say nothing about this one either."""
        if rec.model_identity in (None, self.identity):
            return {}
        rec.cursor_ms, rec.frames, rec.attempts, rec.short_at_ms, rec.short_reads = None, 0, 0, None, 0
        return {"model_identity": self.identity, "cursor_ms": None, "frames": 0, "attempts": 0,
                "short_at_ms": None, "short_reads": 0}

    def gave_up(self, rec: FileRecord) -> str | None:
        """The reason to fail a file without trying: max_attempts tries started and none ended.

        A row already `failed` (its own reason kept) that is handed back on purpose gets its try."""
        limit = self.settings.daemon.max_attempts
        if rec.attempts < limit or rec.state == FAILED:
            return None
        last = f"; last: {rec.error}" if rec.error else ""
        return (f"given up after {rec.attempts} tries that never finished (the process died or hung on this "
                f"file: it may crash the decoder){last}")

    def start(self, rec: FileRecord, switch: dict[str, Any]) -> None:
        """Count the attempt and mark the file indexing, in one update, before anything decodes."""
        self._started[rec.path] = rec.attempts
        self.catalog.update(rec.path, **{**switch, "model_identity": self.identity, "state": INDEXING,
                                         "attempts": rec.attempts + 1})
        rec.attempts += 1
        rec.state = INDEXING
        rec.model_identity = self.identity

    def undo(self, rec: FileRecord) -> None:
        """Give the attempt back: the try ended for a reason that is not the file's. The state stays
        `indexing` (= needs indexing): restoring, say, `indexed` beside a switched identity and a
        reset cursor would call the file done under a model that has none of its vectors."""
        attempts = self._started.pop(rec.path, None)
        if attempts is None:
            return
        self.catalog.update(rec.path, attempts=attempts)
        rec.attempts = attempts

    def fail(self, rec: FileRecord, reason: str, counted: bool = True) -> None:
        counted = self._started.pop(rec.path, None) is not None and counted
        switch = self.switch(rec)  # failed before the try started: still this model's row from now on
        attempts = rec.attempts if counted else rec.attempts + 1
        d = self.settings.daemon
        self.catalog.update(rec.path, **{
            **switch, "model_identity": self.identity, "state": FAILED, "error": reason, "attempts": attempts,
            "next_retry": time.time() + retry_delay(attempts, d.retry_base_seconds, d.retry_max_seconds),
        })
        rec.attempts = attempts

    def cut_short(self, rec: FileRecord, before: Snapshot | None, report: DecodeReport) -> str | None:
        """If the decode ended early for a reason that is not damage, put the file back to pending
        (cursor and stored vectors kept) and return why; None means finish it as it decoded."""
        found = short_read(rec.path, rec.root, before, report)
        if found is None:
            return None
        why, repeatable = found
        at = round(report.end * 1000)
        tolerance = max(1000, round(self.settings.sampling.interval * 1000))
        if repeatable and rec.short_at_ms is not None and abs(rec.short_at_ms - at) <= tolerance:
            log.warning("%s: %s again, at the same place: a damaged spot, indexed up to it", rec.path, why)
            return None
        # The try ended (not a crash, not a hang): give its attempt back, count it as cut short.
        attempts = self._started.pop(rec.path, rec.attempts)
        shorts = rec.short_reads + 1
        d = self.settings.daemon
        error = f"cut short by read problems {shorts} time{'s' if shorts > 1 else ''} (not a crash); last: {why}"
        self.catalog.update(
            rec.path, state=PENDING, error=f"{error}; not indexed yet, will retry (stored frames kept)",
            short_at_ms=at if repeatable else None, attempts=attempts, short_reads=shorts,
            next_retry=time.time() + short_read_delay(shorts, d.retry_base_seconds, d.retry_max_seconds),
        )
        rec.attempts, rec.short_reads = attempts, shorts
        log.warning("cut short: %s: %s; will retry, stored frames kept", rec.path, error)
        return error

    def finish(self, rec: FileRecord, produced: list[str], report: DecodeReport) -> int:
        """Mark the file indexed; returns the frame count the store now holds for it.

        Vectors from an earlier run beyond where this (partial) decode ended are kept: fewer frames
        this time is never a reason to delete stored ones. The stale version's deletion commits
        with the row change (a kill between is finished by heal_store_ops)."""
        self._started.pop(rec.path, None)
        keep = set(produced)
        end_ms = round(report.end * 1000) if report.partial else None
        # Frames up to the resume cursor were not embedded again by this run, only skipped: if the
        # sampling settings changed since the interrupted run, their ids differ from this run's, and
        # deleting them would leave a hole that nothing refills. Keep them.
        resumed_ms = rec.cursor_ms
        extra, stored = [], 0
        for fid in self.store.ids_for_video(rec.video_id):
            stored += 1
            if fid in keep:
                continue
            t = _ms(fid)
            if (end_ms is not None and t >= end_ms) or (resumed_ms is not None and t <= resumed_ms):
                continue
            extra.append(fid)
        if extra:
            self.store.delete_ids(extra)
            for fid in extra:
                (self.thumbs.root / rec.video_id / f"{_ms(fid)}.jpg").unlink(missing_ok=True)
        note = report.note if report.partial or report.decode_errors else None
        frames = stored - len(extra)  # what the store now holds for this file
        self.catalog.update(
            rec.path, state=INDEXED, frames=frames, note=note, error=None, stale_video_id=None,
            attempts=0, next_retry=None, short_at_ms=None, short_reads=0, model_identity=self.identity,
            intents=[(DELETE_VIDEO, rec.stale_video_id)] if rec.stale_video_id else (),
        )
        if rec.stale_video_id:
            heal_store_ops(self.catalog, self.store, self.thumbs)
        if note:
            log.warning("indexed with problems: %s: %s", rec.path, note)
        else:
            log.info("indexed %s: %d frames", rec.path, frames)
        return frames


def _ms(frame_id: str) -> int:
    return int(frame_id.rsplit(":", 1)[1])

