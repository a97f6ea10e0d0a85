"""Local full-text accelerator for speech: SQLite FTS5 over the speech collection's segments.

A derived index, never the truth: it lives in data_dir/speech-fts/<collection>.sqlite3, is written
after the store on every pass, and is rebuilt from the store when its segment count differs from
the store's (a crash between the two writes, another machine writing a shared server, a deleted
file). Tokens are match.py's words (diacritics folded, case ignored; Chinese and Japanese, written
without spaces, one character each), kept space-separated in the indexed `terms` column for FTS5's
`unicode61` tokenizer; `text` is the cue as said. The vocabulary table feeds the misspelling
tolerance. A file of an older layout (`user_version`) is emptied and rebuilt from the store.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ...storage.sqlitetx import connect, write_transaction
from ..base import Segment, Word
from .match import terms_of

log = logging.getLogger(__name__)

LAYOUT = 2  # PRAGMA user_version: 2 = `terms` indexed (CJK per character), `text` as said
SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS seg USING fts5(
    terms, text UNINDEXED, sid UNINDEXED, video_id UNINDEXED, path UNINDEXED, t_start UNINDEXED, t_end UNINDEXED,
    language UNINDEXED, source UNINDEXED, words UNINDEXED,
    tokenize = "unicode61 remove_diacritics 2");
CREATE VIRTUAL TABLE IF NOT EXISTS vocab USING fts5vocab(seg, row);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class SpeechFTS:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = connect(path)
        if int(self._db.execute("PRAGMA user_version").fetchone()[0]) != LAYOUT:  # derived: start afresh
            self._db.executescript("DROP TABLE IF EXISTS vocab; DROP TABLE IF EXISTS seg; DROP TABLE IF EXISTS meta;")
            self._db.execute(f"PRAGMA user_version = {LAYOUT}")
        self._db.executescript(SCHEMA)
        self._vocab: tuple[int, list[str]] | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM seg").fetchone()[0])

    def _rows(self, items: Iterable[tuple[str, str, str, Segment]]) -> Iterable[tuple]:
        for sid, vid, path, s in items:
            words = json.dumps([[w.text, w.start, w.end] for w in s.words], ensure_ascii=False) if s.words else ""
            yield (terms_of(s.text), s.text, sid, vid, path, s.start, s.end, s.language or "", s.source, words)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction under the lock; the vocabulary is re-read after it."""
        with self._lock:
            try:
                with write_transaction(self._db):
                    yield
            finally:
                self._vocab = None

    def replace_video(self, video_id: str, items: list[tuple[str, str, str, Segment]], first: int = 0) -> None:
        with self._transaction():
            if first == 0:
                self._db.execute("DELETE FROM seg WHERE video_id = ?", (video_id,))
            else:
                self._db.executemany("DELETE FROM seg WHERE sid = ?", [(i[0],) for i in items])
            self._db.executemany("INSERT INTO seg VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._rows(items))

    def delete_video(self, video_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM seg WHERE video_id = ?", (video_id,))
            self._vocab = None

    def rebuild(self, items: Iterable[tuple[str, str, str, Segment]]) -> int:
        with self._transaction():
            self._db.execute("DELETE FROM seg")
            self._db.executemany("INSERT INTO seg VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._rows(items))
        return self.count()

    @property
    def generation(self) -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return row[0] if row else ""

    def set_generation(self, gen: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)", (gen,))

    def sync(self, store_gen: str, items: Iterable[tuple[str, str, str, Segment]] | None = None,
             force: bool = False) -> bool:
        """Rebuild from the store when it was written since this index was built (`store_gen`, see
        SpeechStore.generation; `items`: the store's segments, read only then). Checked on every
        search (one small read). Returns True when it rebuilt."""
        if not force and self.generation == store_gen:
            return False
        n = self.rebuild(items or ())
        self.set_generation(store_gen)
        log.info("speech accelerator %s rebuilt from the store: %d segments", self.path.name, n)
        return True

    def vocabulary(self) -> list[str]:
        with self._lock:
            if self._vocab is None:
                terms = [r[0] for r in self._db.execute("SELECT term FROM vocab")]
                self._vocab = (len(terms), terms)
            return self._vocab[1]

    def match(self, expr: str, video_ids: list[str] | None, t_from: float | None, t_to: float | None,
              limit: int) -> list[tuple[str, str, str, Segment, float]]:
        """Segments matching an FTS5 expression, best bm25 first: (sid, video_id, path, segment, bm25)."""
        sql = ("SELECT sid, video_id, path, t_start, t_end, language, source, words, text, bm25(seg) "
               "FROM seg WHERE seg MATCH ?")
        args: list = [expr]
        if t_from is not None:
            sql += " AND t_end > ?"
            args.append(float(t_from))
        if t_to is not None:
            sql += " AND t_start < ?"
            args.append(float(t_to))
        if video_ids is not None:
            if not video_ids:
                return []
            sql += f" AND video_id IN ({','.join('?' * len(video_ids))})"
            args.extend(video_ids)
        sql += " ORDER BY bm25(seg) LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = []
        for sid, vid, path, t0, t1, lang, src, words, text, rank in rows:
            ws: tuple[Word, ...] = ()
            if words:
                try:
                    ws = tuple(Word(str(w[0]), float(w[1]), float(w[2])) for w in json.loads(words))
                except (ValueError, TypeError, IndexError):
                    ws = ()
            out.append((sid, vid, path, Segment(float(t0), float(t1), text, lang or None, src, ws), float(rank)))
        return out
