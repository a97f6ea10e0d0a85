"""The pipeline for one catalogued file: decode -> embed -> store, committed per batch, resumable.

A decode thread (PyAV, which releases the GIL) samples frames, preprocesses them for the model and
writes thumbnails; the calling thread embeds batches and commits them. A bounded queue between
them keeps both cores busy without buffering a whole video.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import FAILED, INDEXED, INDEXING, Catalog, FileRecord
from .config import Settings
from .decode import DecodeError, DecodeReport, probe, sample_frames
from .embedder import Embedder, ModelLoadError
from .store import FrameRecord, FrameStore, Thumbnails, frame_id

log = logging.getLogger(__name__)

_END = object()


@dataclass
class Progress:
    """Live progress of the indexer, read by the CLI bar, `index_status` and systemd STATUS=."""

    files_total: int = 0
    files_done: int = 0
    frames_done: int = 0
    video_seconds_done: float = 0.0
    current_path: str | None = None
    current_t: float = 0.0
    current_duration: float | None = None
    started_at: float = field(default_factory=time.time)
    indexed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(1e-6, time.time() - self.started_at)
        return {
            "files_total": self.files_total,
            "files_done": self.files_done,
            "frames_done": self.frames_done,
            "current_path": self.current_path,
            "current_t": round(self.current_t, 2),
            "current_duration": self.current_duration,
            "frames_per_second": round(self.frames_done / elapsed, 2),
            "video_seconds_per_second": round(self.video_seconds_done / elapsed, 2),
        }


@dataclass
class Outcome:
    path: str
    state: str  # indexed | failed | interrupted
    frames: int = 0
    reason: str | None = None


def retry_delay(attempts: int, base: float, cap: float) -> float:
    return min(cap, base * (2 ** max(0, attempts - 1)))


class Indexer:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        store: FrameStore,
        embedder: Embedder,
        thumbs: Thumbnails,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.thumbs = thumbs
        self.progress = progress or Progress()

    def index(self, rec: FileRecord, stop: threading.Event | None = None,
              on_batch: Callable[[], None] | None = None) -> Outcome:
        """Index one file. Never raises for a bad file; raises ModelLoadError (not a file problem)."""
        stop = stop or threading.Event()
        p = self.progress
        p.current_path, p.current_t, p.current_duration = rec.path, 0.0, rec.duration
        try:
            return self._index(rec, stop, on_batch)
        except ModelLoadError:
            raise
        except DecodeError as e:
            return self._fail(rec, str(e))
        except Exception as e:  # a bug or an odd file must not stop the run
            log.exception("unexpected error indexing %s", rec.path)
            return self._fail(rec, f"internal error: {type(e).__name__}: {e}")
        finally:
            p.current_path = None

    def _fail(self, rec: FileRecord, reason: str) -> Outcome:
        attempts = rec.attempts + 1
        d = self.settings.daemon
        self.catalog.update(
            rec.path, state=FAILED, error=reason, attempts=attempts,
            next_retry=time.time() + retry_delay(attempts, d.retry_base_seconds, d.retry_max_seconds),
            model_identity=self.embedder.identity,
        )
        log.warning("failed: %s: %s", rec.path, reason)
        self.progress.failed.append((rec.path, reason))
        return Outcome(rec.path, FAILED, reason=reason)

    def _index(self, rec: FileRecord, stop: threading.Event, on_batch: Callable[[], None] | None) -> Outcome:
        if rec.model_identity not in (None, self.embedder.identity) and rec.state == INDEXED:
            # Re-index for a new model: vectors live in another collection; nothing to clean here.
            rec.cursor_ms = None
        info = probe(rec.path)
        self.embedder.load()
        cursor = rec.cursor_ms if rec.cursor_ms is not None else -1
        self.catalog.update(rec.path, state=INDEXING, duration=info.duration, error=None,
                            model_identity=self.embedder.identity)
        self.progress.current_duration = info.duration
        if cursor >= 0:
            log.info("resuming %s after %.1f s", rec.path, cursor / 1000)
        else:
            log.info("indexing %s (%.1f s, %dx%d %s)", rec.path, info.duration or 0, info.width,
                     info.height, info.codec)
        report = DecodeReport()
        produced: list[str] = []
        q: queue.Queue[Any] = queue.Queue(maxsize=max(2, 2 * self.settings.model.batch_size))
        decoder = threading.Thread(
            target=self._decode_worker, args=(rec, cursor, report, produced, q, stop),
            name=f"decode:{Path(rec.path).name}", daemon=True,
        )
        decoder.start()
        frames_before = self.progress.frames_done
        committed = rec.frames if cursor >= 0 else 0
        try:
            committed += self._embed_loop(rec, q, stop, on_batch)
        finally:
            stop_local = stop.is_set()
            if stop_local:
                _drain(q)
            decoder.join()
        if stop.is_set():
            log.info("interrupted %s at %.1f s; will resume", rec.path, self.progress.current_t)
            return Outcome(rec.path, "interrupted", self.progress.frames_done - frames_before)
        if not produced:
            raise DecodeError(report.note or "no decodable video frames")
        self._finish(rec, produced, report)
        self.progress.indexed += 1
        return Outcome(rec.path, INDEXED, len(produced), report.note)

    def _decode_worker(self, rec: FileRecord, cursor: int, report: DecodeReport, produced: list[str],
                       q: queue.Queue[Any], stop: threading.Event) -> None:
        """Decode thread: sample, skip what is already committed, preprocess, write thumbnails."""
        try:
            for fr in sample_frames(rec.path, self.settings.sampling, report):
                if stop.is_set():
                    break
                fid = frame_id(rec.video_id, fr.t_start)
                produced.append(fid)
                if round(fr.t_start * 1000) <= cursor:
                    continue
                self.thumbs.save(rec.video_id, fr.t_start, fr.image)
                tensor = self.embedder.preprocess([fr.image])[0]
                meta = FrameRecord(fid, rec.video_id, rec.path, fr.t_start, fr.t_end, fr.shot)
                _put(q, (meta, tensor), stop)
        except BaseException as e:  # hand the error to the embed loop
            _put(q, e, stop)
        finally:
            _put(q, _END, stop)

    def _embed_loop(self, rec: FileRecord, q: queue.Queue[Any], stop: threading.Event,
                    on_batch: Callable[[], None] | None) -> int:
        import torch

        bs = self.settings.model.batch_size
        done = 0
        finished = False
        while not finished and not stop.is_set():
            metas, tensors = [], []
            while len(metas) < bs:
                item = q.get()
                if item is _END:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    raise item
                metas.append(item[0])
                tensors.append(item[1])
            if not metas:
                break
            vectors = self.embedder.encode_tensor(torch.stack(tensors))
            self.store.upsert(metas, vectors)
            last = metas[-1]
            done += len(metas)
            # The cursor moves only after the vectors are stored: a crash re-embeds at most one batch.
            self.catalog.update(rec.path, cursor_ms=round(last.t_start * 1000),
                                frames=(rec.frames if rec.cursor_ms is not None else 0) + done)
            p = self.progress
            p.frames_done += len(metas)
            p.video_seconds_done += last.t_end - metas[0].t_start
            p.current_t = last.t_end
            if on_batch:
                on_batch()
        return done

    def _finish(self, rec: FileRecord, produced: list[str], report: DecodeReport) -> None:
        keep = set(produced)
        extra = [i for i in self.store.ids_for_video(rec.video_id) if i not in keep]
        if extra:
            self.store.delete_ids(extra)
        if rec.stale_video_id:
            self.store.delete_video(rec.stale_video_id)
            self.thumbs.delete_video(rec.stale_video_id)
        note = report.note if report.partial or report.decode_errors else None
        self.catalog.update(
            rec.path, state=INDEXED, frames=len(produced), note=note, error=None, stale_video_id=None,
            attempts=0, next_retry=None, model_identity=self.embedder.identity,
        )
        if note:
            log.warning("indexed with problems: %s: %s", rec.path, note)
        else:
            log.info("indexed %s: %d frames", rec.path, len(produced))


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while True:
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            if stop.is_set():
                return


def _drain(q: queue.Queue[Any]) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
