"""The pipeline for one catalogued file: decode -> embed -> store, committed per batch, resumable.

A decode thread (PyAV, which releases the GIL) samples frames, writes thumbnails and resizes them
to the model's input; a bounded queue hands them to the calling thread, which batches them onto
embed workers (one single-threaded batch per core); a commit thread stores each batch's vectors and
then moves the catalog cursor, in decode order. Both cores stay busy without buffering a video.

Across files (`index_all`, `index.prefetch_next`): when a file's decoder has finished, the next
file's try starts (attempt counted, probe, its own decoder into its own bounded queue) while this
file's last batches embed and commit; `index(next, prepared=...)` then embeds from that queue.
Embedding, commits and the cursor stay per file: the next file stores nothing before this one is
indexed, so the order guarantee and kill -9 resume are per file as before.

Every touch of a file (the special-file check, its snapshot, the probe, the decode) runs on its
decoder thread, under its stall watch: starting a try (`prepare`) never blocks the caller, which for
the next file is this file's embed loop. A probe that hangs fails that file after
`sampling.decode_stall_seconds`, when its turn comes; the file before it is not delayed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...config import Settings
from ...ingest.filetype import special_file_reason
from ...ingest.tries import Tries, retry_delay
from ...media.decode import DecodeError, DecodeReport, VideoInfo, probe, resolve_mode, sample_frames
from ...media.decodeguard import DecodeStall, Snapshot, StallWatch
from ...progress import Progress
from ...storage.catalog import FAILED, INDEXED, Catalog, FileRecord
from ...storage.store import FrameRecord, FrameStore, StoreError, Thumbnails, frame_id
from .embedder import Embedder, ModelLoadError

if TYPE_CHECKING:
    from .channels.taps import TapBoard, TapSet

log = logging.getLogger(__name__)

_END = object()
# Smallest batch free embed workers start on while the decoder is still running. Per-image model
# cost (ViT-B-32, one thread) is ~1.5x at 1 image, ~1.2x at 2 and ~1.05x at 4 of its cost from 8 up
# (bench/README.md); waiting for more frames idles the model at the start of every file.
MIN_BATCH = 4
# How long a decoder thread that was told to stop may take to notice before it is left behind (one
# wedged inside FFmpeg cannot be interrupted from Python; it is a daemon thread and holds no lock).
JOIN_GRACE = 10.0


@dataclass
class Outcome:
    path: str
    state: str  # indexed | failed | interrupted (a cut-short try is "failed", its row back to pending)
    frames: int = 0
    reason: str | None = None


@dataclass
class Prepared:
    """A file whose try has started: attempt counted, probed, its decoder filling its own queue.

    Made by `Indexer.prepare`; consumed by `Indexer.index(rec, prepared=...)` or given up with
    `Indexer.cancel` (which gives the attempt back). An error while starting is kept in `error`
    and raised by `index`, so the file fails exactly as it would have without the head start."""

    rec: FileRecord
    q: queue.Queue[Any]
    report: DecodeReport = field(default_factory=DecodeReport)
    produced: list[str] = field(default_factory=list)
    halt: threading.Event = field(default_factory=threading.Event)  # tells the decoder to give up
    probed: threading.Event = field(default_factory=threading.Event)  # the decoder thread probed (info or error)
    decoded: threading.Event = field(default_factory=threading.Event)  # the decoder finished normally
    cursor: int = -1
    before: Snapshot | None = None
    info: VideoInfo | None = None
    decoder: threading.Thread | None = None
    watch: StallWatch | None = None
    error: Exception | None = None


__all__ = ["Indexer", "Outcome", "Prepared", "retry_delay"]


class Indexer:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        store: FrameStore,
        embedder: Embedder,
        thumbs: Thumbnails,
        progress: Progress | None = None,
        taps: TapBoard | None = None,
    ) -> None:
        self.settings = settings
        self.taps = taps  # the channels' taps on this decode (channels/taps.py), or None
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.thumbs = thumbs
        self.progress = progress or Progress()
        self.tries = Tries(settings, catalog, store, thumbs, embedder.identity)

    def index(self, rec: FileRecord, stop: threading.Event | None = None,
              on_batch: Callable[[], None] | None = None, prepared: Prepared | None = None,
              on_decoded: Callable[[], None] | None = None) -> Outcome:
        """Index one file. Never raises for a bad file; raises ModelLoadError or StoreError (not file problems).

        `prepared`: this file's try, started earlier by `prepare` (its decoder already running).
        `on_decoded`: called once, in this thread, when this file's decoder has finished while its
        last batches may still embed (the moment to `prepare` the next file)."""
        stop = stop or threading.Event()
        p = self.progress
        p.current_path, p.current_t, p.current_duration = rec.path, 0.0, rec.duration
        try:
            if prepared is not None and prepared.rec is not rec:
                self.cancel(prepared)  # started for another record: never index one file from another's decoder
                prepared = None
            prep = prepared if prepared is not None else self.prepare(rec, stop)
            return self._index(prep, stop, on_batch, on_decoded)
        except (ModelLoadError, StoreError):
            self.tries.undo(rec)
            raise  # not this file's fault: do not mark it failed or spend its retries
        except DecodeError as e:
            return self._fail(rec, str(e))
        except Exception as e:  # a bug or an odd file must not stop the run
            log.exception("unexpected error indexing %s", rec.path)
            return self._fail(rec, f"internal error: {type(e).__name__}: {e}")
        finally:
            p.current_path = None

    def _fail(self, rec: FileRecord, reason: str) -> Outcome:
        self.tries.fail(rec, reason)
        log.warning("failed: %s: %s", rec.path, reason)
        return Outcome(rec.path, FAILED, reason=reason)

    def index_all(self, recs: Sequence[FileRecord], stop: threading.Event | None = None,
                  on_batch: Callable[[], None] | None = None,
                  on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Index files in order. With `index.prefetch_next`, file N+1's try starts when file N's
        decoder has finished (see the module docstring); a head start that is not used (stop, error)
        is cancelled and its attempt given back."""
        stop = stop or threading.Event()
        prefetch = self.settings.index.prefetch_next
        outcomes: list[Outcome] = []
        pending: list[Prepared] = []  # the next file's started try, at most one
        try:
            for i, rec in enumerate(recs):
                if stop.is_set():
                    break
                prepared = pending.pop() if pending else None
                follow = recs[i + 1] if prefetch and i + 1 < len(recs) else None
                hook = None
                if follow is not None and self.prefetchable(follow):
                    def hook(follow: FileRecord = follow) -> None:
                        if not stop.is_set():
                            pending.append(self.prepare(follow, stop))
                out = self.index(rec, stop, on_batch, prepared=prepared, on_decoded=hook)
                outcomes.append(out)
                if on_outcome is not None:
                    on_outcome(out)
        finally:
            for prep in pending:
                self.cancel(prep)
        return outcomes

    @staticmethod
    def prefetchable(rec: FileRecord) -> bool:
        """Whether a file may start while another one is in flight. Not one with a try that never
        ended (the process died on it, or beside it): it runs alone, so if it crashes the decoder
        again, that attempt is charged to it and not also to the file before it."""
        return rec.attempts == 0

    def prepare(self, rec: FileRecord, stop: threading.Event) -> Prepared:
        """Start a file's try: count the attempt, probe, start its decoder. Never raises: an error
        is kept in the result for `index` to raise (and handle) when the file's turn comes."""
        prep = Prepared(rec, queue.Queue(maxsize=max(2, 2 * self.settings.model.batch_size)))
        try:
            self._start(prep, stop)
        except Exception as e:
            prep.error = e
        return prep

    def cancel(self, prep: Prepared) -> None:
        """Give up a started try that was never indexed: stop its decoder, give the attempt back."""
        prep.halt.set()
        _drain(prep.q)
        if prep.decoder is not None:
            prep.decoder.join(JOIN_GRACE)
            if prep.decoder.is_alive():
                log.warning("the decoder of %s did not stop (wedged in FFmpeg?): left behind", prep.rec.path)
        self.tries.undo(prep.rec)

    def _start(self, prep: Prepared, stop: threading.Event) -> None:
        """Catalog work only: the file itself is first touched on its decoder thread (`_open`)."""
        rec = prep.rec
        switch = self.tries.switch(rec)
        gave_up = self.tries.gave_up(rec)
        if gave_up is not None:
            raise DecodeError(gave_up)
        self.tries.start(rec, switch)  # counted before anything decodes: a crash in FFmpeg counts too
        prep.cursor = rec.cursor_ms if rec.cursor_ms is not None else -1
        # Bounded: at most two batches of decoded frames wait (uint8, model size: ~10 MB for 64 frames).
        prep.decoder = threading.Thread(target=self._decode_worker, args=(prep, stop),
                                        name=f"decode:{Path(rec.path).name}", daemon=True)
        prep.decoder.start()
        # Timed from the decoder's start (a hang in the probe or av.open counts too), also while the
        # model loads or the file before this one still embeds.
        decoder, q = prep.decoder, prep.q
        prep.watch = StallWatch(prep.report, self.settings.sampling.decode_stall_seconds,
                                waiting=lambda: q.full() or not decoder.is_alive())

    def _open(self, prep: Prepared) -> bool:
        """On the decoder thread: never open a file replaced by a FIFO/device since the scan, note
        what it looks like, probe it. False (the error kept in `prep.error`) if that failed."""
        rec = prep.rec
        try:
            special = special_file_reason(rec.path)
            if special is not None:
                raise DecodeError(special)
            prep.before = Snapshot.of(rec.path)
            prep.info = probe(rec.path)
        except BaseException as e:
            prep.error = e
            return False
        finally:
            prep.probed.set()
        # A fresh process loads the model in the background (seconds of torch/open_clip import)
        # while this thread already fills the frame queue; load() waits for it.
        self.embedder.preload()
        return True

    @staticmethod
    def _probed(prep: Prepared, stop: threading.Event) -> VideoInfo | None:
        """Wait for the decoder thread's probe under the stall watch; None if a stop came first."""
        assert prep.watch is not None
        while not prep.probed.wait(0.2):
            if stop.is_set():
                return None
            prep.watch.check()
        if prep.error is not None:
            raise prep.error
        return prep.info

    def _index(self, prep: Prepared, stop: threading.Event, on_batch: Callable[[], None] | None,
               on_decoded: Callable[[], None] | None) -> Outcome:
        if prep.error is not None and prep.decoder is None:
            raise prep.error  # the try never started (given up, catalog trouble)
        rec, report, produced, q = prep.rec, prep.report, prep.produced, prep.q
        decoder = prep.decoder
        assert decoder is not None
        frames_before = self.progress.frames_done
        ok = stalled = False
        try:
            try:
                info = self._probed(prep, stop)  # a file that is no video fails before the model loads
                if info is not None:
                    self.embedder.load()  # a ModelLoadError halts the decoder (finally); index() gives the attempt back
                    self._begin(rec, info, prep.cursor)
                    self._embed_loop(rec, q, stop, on_batch, prep.watch, prep.decoded, on_decoded)
            except DecodeStall:
                stalled = True
                raise
            ok = info is not None
        finally:
            if stop.is_set() or not ok:
                prep.halt.set()
                _drain(q)
            decoder.join(None if ok else 0.5 if stalled else JOIN_GRACE)
            if decoder.is_alive():
                log.warning("the decoder of %s did not stop (wedged in FFmpeg?): left behind", rec.path)
        if stop.is_set():
            self.tries.undo(rec)  # a requested stop is not the file's fault
            log.info("interrupted %s at %.1f s; will resume", rec.path, self.progress.current_t)
            return Outcome(rec.path, "interrupted", self.progress.frames_done - frames_before)
        if not produced:
            raise DecodeError(report.note or "no decodable video frames")
        if report.partial or report.io_error:
            why = self.tries.cut_short(rec, prep.before, report)
            if why is not None:
                return Outcome(rec.path, FAILED, self.progress.frames_done - frames_before,
                               f"{why}: will retry, stored frames kept")
        frames = self.tries.finish(rec, produced, report)
        return Outcome(rec.path, INDEXED, frames, report.note)

    def _begin(self, rec: FileRecord, info: VideoInfo, cursor: int) -> None:
        self.catalog.update(rec.path, duration=info.duration, error=None)
        self.progress.current_duration = info.duration
        if cursor >= 0:
            log.info("resuming %s after %.1f s", rec.path, cursor / 1000)
        else:
            log.info("indexing %s (%.1f s, %dx%d %s)", rec.path, info.duration or 0, info.width, info.height,
                     info.codec)

    def decode_mode(self, path: str) -> str:
        """The decoder skip mode for this file (sampling.decode_mode resolved; see config.py)."""
        sampling = self.settings.sampling
        mode = sampling.decode_mode
        if mode == "fast":
            # decode.resolve_mode's choice for a run without cut detection (keyframes if dense enough,
            # else reference frames); cut detection then runs on the frames that are decoded.
            return resolve_mode(path, sampling.model_copy(update={"detect_cuts": False}), "auto")
        return resolve_mode(path, sampling, mode)

    def _decode_worker(self, prep: Prepared, stop: threading.Event) -> None:
        """Decode thread: sample, skip what is already committed, write thumbnails, resize+crop for the model.

        Frames go to the queue as uint8 (S, S, 3) arrays (the embed side normalises whole batches).
        """
        rec, cursor, report, produced, q, halt = prep.rec, prep.cursor, prep.report, prep.produced, prep.q, prep.halt
        taps: TapSet | None = None
        try:
            if not self._open(prep) or stop.is_set() or halt.is_set():
                return
            mode = self.decode_mode(rec.path)
            taps = self.taps.open(rec.video_id, resumed=cursor >= 0) if self.taps is not None else None
            on_frame = taps.offer if taps is not None else None
            for fr in sample_frames(rec.path, self.settings.sampling, report, mode=mode, on_frame=on_frame):
                if stop.is_set() or halt.is_set():
                    break
                fid = frame_id(rec.video_id, fr.t_start)
                produced.append(fid)
                if round(fr.t_start * 1000) <= cursor:
                    continue
                self.thumbs.save(rec.video_id, fr.t_start, fr.image)
                pixels = self.embedder.to_input_array(fr.image)
                meta = FrameRecord(fid, rec.video_id, rec.path, fr.t_start, fr.t_end, fr.shot)
                _put(q, (meta, pixels), halt)
            else:
                prep.decoded.set()  # every frame decoded (some may still wait in the queue)
                if taps is not None:  # handed to the channel passes only if the decode saw it all, cleanly
                    self.taps.publish(taps, complete=not (report.partial or report.io_error or report.decode_errors
                                                          or stop.is_set() or halt.is_set()))
                    taps = None
        except BaseException as e:  # hand the error to the embed loop
            _put(q, e, halt)
        finally:
            if taps is not None:
                taps.discard()
            _put(q, _END, halt)

    def _embed_loop(self, rec: FileRecord, q: queue.Queue[Any], stop: threading.Event,
                    on_batch: Callable[[], None] | None, watch: StallWatch | None = None,
                    decoded: threading.Event | None = None, on_decoded: Callable[[], None] | None = None) -> int:
        """Batch frames from the queue, embed batches on `workers` threads, commit them in decode order.

        Each worker runs a whole batch on one torch thread: no OpenMP barrier between cores, so a
        busy decoder (or another process) sharing the cores stalls nothing. A commit thread stores
        finished batches (Chroma upsert, then the catalog cursor) in order, so this loop keeps the
        workers fed meanwhile. Free workers start as soon as MIN_BATCH frames are queued (not a full
        batch_size, so the model starts early in each file), splitting what is queued between them.
        `on_decoded` runs once the decoder has set `decoded` (checked on every turn of the loop).
        """
        bs = self.settings.model.batch_size
        min_batch = min(bs, MIN_BATCH)
        workers = self.embedder.workers
        commits: queue.Queue[tuple[list[FrameRecord], Future[np.ndarray]] | None] = queue.Queue()
        state = {"done": 0, "batches": 0, "error": None}
        committer = threading.Thread(target=self._committer, args=(rec, commits, state), daemon=True,
                                     name=f"commit:{Path(rec.path).name}")
        committer.start()
        running: list[Future[np.ndarray]] = []
        backlog: list[tuple[FrameRecord, np.ndarray]] = []  # frames taken from the queue, not yet batched
        finished = False
        seen = 0
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed",
                                  initializer=self.embedder.init_worker_thread)
        try:
            while not stop.is_set() and state["error"] is None:
                if watch is not None:  # raises DecodeStall when the decoder made no progress for too long
                    watch.check(self.progress.current_t)
                if on_decoded is not None and decoded is not None and decoded.is_set():
                    hook, on_decoded = on_decoded, None
                    hook()  # the next file's decoder starts while this file's last batches embed
                if on_batch and state["batches"] != seen:
                    seen = state["batches"]
                    on_batch()
                running = [f for f in running if not f.done()]
                free = workers - len(running)
                if not finished and len(backlog) < bs:
                    # Block only when there is nothing else to do; poll briefly while workers run.
                    wait = 0.0 if free and len(backlog) >= min_batch else 0.02 if running else None
                    finished = self._fill(q, backlog, bs, wait, stop,
                                          watch and (lambda: watch.check(self.progress.current_t)))
                if backlog and free and (finished or len(backlog) >= min_batch):
                    n = -(-len(backlog) // free)  # split what is queued evenly across the free workers
                    take, backlog = backlog[: min(bs, n)], backlog[min(bs, n) :]
                    fut = pool.submit(self.embedder.encode_pixels, np.stack([px for _, px in take]))
                    running.append(fut)
                    commits.put(([m for m, _ in take], fut))
                    continue
                if finished and not backlog:
                    if on_decoded is not None and decoded is not None and decoded.is_set():
                        on_decoded()  # batches may still run: the pool and the committer finish below
                    break
                if running and not free:
                    wait_futures(running, timeout=0.2, return_when=FIRST_COMPLETED)
        finally:
            if stop.is_set() or state["error"] is not None or not finished:
                for f in running:
                    f.cancel()  # queued batches are dropped; the commit thread stops at the first gap
            commits.put(None)
            pool.shutdown(wait=True)
            committer.join()
        if state["error"] is not None:
            raise state["error"]
        if on_batch and state["batches"] != seen:
            on_batch()
        return state["done"]

    def _committer(self, rec: FileRecord, commits: queue.Queue[Any], state: dict[str, Any]) -> None:
        """Commit thread: store each batch's vectors, then move the cursor, strictly in decode order.

        After a failed or cancelled batch nothing later is committed, so the cursor never skips frames."""
        broken = False
        while (item := commits.get()) is not None:
            if broken:
                continue
            metas, fut = item
            try:
                vectors = fut.result()
            except CancelledError:
                broken = True
                continue
            except BaseException as e:
                state["error"], broken = e, True
                continue
            try:
                state["done"] += self._commit(rec, metas, vectors, state["done"])
                state["batches"] += 1
            except BaseException as e:
                state["error"], broken = e, True

    @staticmethod
    def _fill(q: queue.Queue[Any], backlog: list[Any], bs: int, wait: float | None, stop: threading.Event,
              check: Callable[[], None] | None = None) -> bool:
        """Move queued frames to the backlog, waiting up to `wait` s (None: until one comes) for the first.

        Returns True once the decoder has finished (its end marker was taken). `check` runs on each
        idle 0.2 s while waiting (the stall watch)."""
        while len(backlog) < bs:
            try:
                if wait is None:
                    item = q.get(timeout=0.2)
                elif wait > 0:
                    item = q.get(timeout=wait)
                else:
                    item = q.get_nowait()
            except queue.Empty:
                if wait is None and not stop.is_set():
                    if check is not None:
                        check()
                    continue
                return False
            if item is _END:
                return True
            if isinstance(item, BaseException):
                raise item
            backlog.append(item)
            wait = 0.0
        return False

    def _commit(self, rec: FileRecord, metas: list[FrameRecord], vectors: np.ndarray, done: int) -> int:
        self.store.upsert(metas, vectors)
        last = metas[-1]
        # The cursor moves only after the vectors are stored (and batches commit in decode order):
        # a crash re-embeds at most the batches in flight.
        self.catalog.update(rec.path, cursor_ms=round(last.t_start * 1000),
                            frames=(rec.frames if rec.cursor_ms is not None else 0) + done + len(metas))
        p = self.progress
        p.frames_done += len(metas)
        p.video_seconds_done += last.t_end - metas[0].t_start
        p.current_t = last.t_end
        return len(metas)


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
