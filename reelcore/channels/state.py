"""Per file and channel, the pass's state in the catalog (table `channel_files`, catalog v4).

Rows are keyed by video_id (the file's content version), so a move keeps them, a changed file
starts afresh, and a row whose video id no row of `files` refers to any more (deleted file, older
version) is an orphan whose records passes.py removes from the store before the row goes.
The visual channel's state stays in `files` (see catalog.py); these helpers are for the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..storage.catalog import FAILED, INDEXED, INDEXING, PENDING, Catalog, FileRecord

DONE = INDEXED  # same words as the visual channel: pending, indexing, indexed, failed


@dataclass(frozen=True)
class ChannelRow:
    video_id: str
    channel: str
    identity: str | None
    state: str
    cursor_ms: int | None
    attempts: int
    error: str | None
    note: str | None
    records: int
    seconds: float | None
    source_sig: str | None


_COLS = "video_id, channel, identity, state, cursor_ms, attempts, error, note, records, seconds, source_sig"


class ChannelStates:
    """The catalog rows of one channel."""

    def __init__(self, catalog: Catalog, channel: str) -> None:
        self.catalog = catalog
        self.channel = channel

    def get(self, video_id: str) -> ChannelRow | None:
        rows = self.catalog.rows(f"SELECT {_COLS} FROM channel_files WHERE video_id = ? AND channel = ?",
                                 video_id, self.channel)
        return ChannelRow(*rows[0]) if rows else None

    def of(self, video_ids: list[str]) -> dict[str, ChannelRow]:
        out: dict[str, ChannelRow] = {}
        for i in range(0, len(video_ids), 500):
            chunk = video_ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.catalog.rows(f"SELECT {_COLS} FROM channel_files WHERE channel = ? AND video_id IN "
                                       f"({marks})", self.channel, *chunk):
                out[r[0]] = ChannelRow(*r)
        return out

    def due(self, identity: str, max_attempts: int, limit: int = 50, prefix: str | None = None) -> list[FileRecord]:
        """Files whose visual pass is done and whose pass of this channel is not (for this identity):
        never run, interrupted, another identity (a backfill), or made pending by a changed source.
        Failed passes wait for a change (identity or source); a pass started `max_attempts` times
        without ending is failed by `start`."""
        where = "" if prefix is None else " AND substr(f.path, 1, ?) = ?"
        args: list = [] if prefix is None else [len(prefix.rstrip("/") + "/"), prefix.rstrip("/") + "/"]
        rows = self.catalog.rows(
            "SELECT f.path FROM files f LEFT JOIN channel_files c ON c.video_id = f.video_id AND c.channel = ? "
            "WHERE f.state = ? AND f.unavailable = 0 AND (c.video_id IS NULL OR c.identity IS NOT ? "
            f"OR c.state IN (?, ?)){where} ORDER BY f.id LIMIT ?",
            self.channel, INDEXED, identity, PENDING, INDEXING, *args, limit)
        recs = [self.catalog.get(r[0]) for r in rows]
        return [r for r in recs if r is not None]

    def _upsert(self, video_id: str, **cols: object) -> None:
        cols["updated_at"] = time.time()
        names = ", ".join(cols)
        marks = ", ".join("?" * len(cols))
        sets = ", ".join(f"{k} = excluded.{k}" for k in cols)
        with self.catalog.transaction() as db:
            db.execute(f"INSERT INTO channel_files (video_id, channel, {names}) VALUES (?, ?, {marks}) "
                       f"ON CONFLICT (video_id, channel) DO UPDATE SET {sets}",
                       (video_id, self.channel, *cols.values()))

    def start(self, video_id: str, identity: str) -> ChannelRow:
        """Count the attempt before any work (a crash mid-pass counts). Another identity's row (or a
        source change) starts from the beginning: cursor and records reset in the same write."""
        row = self.get(video_id)
        fresh = row is None or row.identity != identity
        attempts = 0 if fresh or row is None else row.attempts
        changes: dict[str, object] = {"identity": identity, "state": INDEXING, "attempts": attempts + 1}
        if fresh:
            changes.update(cursor_ms=None, records=0, error=None, note=None, source_sig=None)
        self._upsert(video_id, **changes)
        got = self.get(video_id)
        assert got is not None
        return got

    def progress(self, video_id: str, cursor_ms: int, records: int) -> None:
        self._upsert(video_id, cursor_ms=cursor_ms, records=records)

    def finish(self, video_id: str, records: int, seconds: float | None, note: str | None,
               source_sig: str | None) -> None:
        self._upsert(video_id, state=DONE, records=records, seconds=seconds, note=note, source_sig=source_sig,
                     error=None, attempts=0, cursor_ms=None)

    def interrupted(self, video_id: str, attempts: int) -> None:
        """A pass that stopped because it was asked to (stop, a visual job came): not the file's fault."""
        self._upsert(video_id, state=PENDING, attempts=max(0, attempts - 1))

    def fail(self, video_id: str, identity: str, error: str, source_sig: str | None = None) -> None:
        self._upsert(video_id, identity=identity, state=FAILED, error=error[:2000], source_sig=source_sig)

    def mark_pending(self, video_id: str) -> None:
        """Its inputs changed (a sidecar): run this channel's pass again, from the start."""
        self._upsert(video_id, state=PENDING, cursor_ms=None, attempts=0, error=None)

    def done_sources(self, prefix: str | None = None) -> list[tuple[FileRecord, ChannelRow]]:
        """Finished or failed rows (with their file) whose inputs may have changed since."""
        rows = self.catalog.rows(
            f"SELECT f.path, {', '.join('c.' + c.strip() for c in _COLS.split(','))} FROM files f JOIN channel_files c "
            "ON c.video_id = f.video_id AND c.channel = ? WHERE c.state IN (?, ?)"
            + ("" if prefix is None else " AND substr(f.path, 1, ?) = ?"),
            self.channel, DONE, FAILED,
            *([] if prefix is None else [len(prefix.rstrip("/") + "/"), prefix.rstrip("/") + "/"]))
        out = []
        for r in rows:
            rec = self.catalog.get(r[0])
            if rec is not None:
                out.append((rec, ChannelRow(*tuple(r)[1:])))
        return out

    def orphans(self, limit: int = 500) -> list[str]:
        """Video ids with rows of this channel that no file row refers to (deleted, or an old version)."""
        rows = self.catalog.rows(
            "SELECT c.video_id FROM channel_files c WHERE c.channel = ? AND NOT EXISTS "
            "(SELECT 1 FROM files f WHERE f.video_id = c.video_id OR f.stale_video_id = c.video_id) LIMIT ?",
            self.channel, limit)
        return [r[0] for r in rows]

    def drop(self, video_id: str) -> None:
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM channel_files WHERE video_id = ? AND channel = ?", (video_id, self.channel))

    def drop_all(self) -> int:
        with self.catalog.transaction() as db:
            return db.execute("DELETE FROM channel_files WHERE channel = ?", (self.channel,)).rowcount

    def counts(self, identity: str) -> dict[str, float | int]:
        """Files per state of this channel over the visually indexed files (rows of another identity
        count as pending: a backfill), segments stored, and seconds of media left to do."""
        r = self.catalog.rows(
            "SELECT "
            "SUM(CASE WHEN c.state = ? AND c.identity = ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN c.state = ? AND c.identity = ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN c.state = ? AND c.identity = ? THEN 1 ELSE 0 END), "
            "COUNT(f.id), "
            "COALESCE(SUM(CASE WHEN c.state = ? AND c.identity = ? THEN c.records ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN c.video_id IS NULL OR c.identity IS NOT ? OR c.state IN (?, ?) "
            "THEN COALESCE(f.duration, 0) ELSE 0 END), 0) "
            "FROM files f LEFT JOIN channel_files c ON c.video_id = f.video_id AND c.channel = ? "
            "WHERE f.state = ?",
            DONE, identity, FAILED, identity, INDEXING, identity, DONE, identity, identity, PENDING, INDEXING,
            self.channel, INDEXED)[0]
        done, failed, running, total = (int(x or 0) for x in tuple(r)[:4])
        return {"indexed": done, "failed": failed, "indexing": running,
                "pending": max(0, total - done - failed - running), "files": total,
                "records": int(r[4] or 0), "seconds_left": round(float(r[5] or 0.0), 1)}


def file_channel_states(catalog: Catalog, identities: dict[str, str | None],
                        recs: list[FileRecord]) -> dict[str, dict[str, str]]:
    """Per video id: {'visual': state, 'speech': state, ...} for each channel in `identities`
    (name -> its identity, None when disabled: 'disabled'; a row of another identity is 'pending':
    a backfill will redo it)."""
    rows = {name: ChannelStates(catalog, name).of([r.video_id for r in recs]) if ident else {}
            for name, ident in identities.items()}
    out = {}
    for r in recs:
        states = {"visual": r.state}
        for name, ident in identities.items():
            row = rows[name].get(r.video_id)
            states[name] = "disabled" if ident is None else PENDING if row is None or row.identity != ident \
                else row.state
        out[r.video_id] = states
    return out
