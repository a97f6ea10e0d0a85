"""The single indexing worker of `reelfind serve` (docs/architecture.md, process model).

It drains the work queue and does every catalog/store write of the service, in order: reconcile
scans, "gone" paths, and files found stable (fingerprint -> decode -> embed -> store, through
reelcore's Reconciler and Indexer). Before the first job it makes sure the model can be loaded;
a transient failure (the weights cannot be downloaded right now) is retried with backoff while
the service keeps answering /status, and only an error the admin must fix is fatal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reelcore.channels.base import ChannelUnavailable
from reelcore.channels.visual.embedder import ModelLoadError
from reelcore.runtime import Runtime
from reelcore.storage.catalog import FAILED, FileRecord
from reelcore.storage.store import StoreError

from .jobs import Job, WorkQueue
from .stability import file_stat

if TYPE_CHECKING:  # types only: `reelfind serve` imports watchdog after its HTTP server is up
    from .watcher import WatchedRoot, Watcher

log = logging.getLogger(__name__)

STALL_SECONDS = 600.0  # a worker or monitor silent this long is stuck: stop the watchdog pings
STORE_RETRY_SECONDS = 30.0  # wait before retrying a job that failed because the vector store was down
MODEL_RETRY_FIRST = 5.0  # transient model load failures: first wait, doubling up to MODEL_RETRY_MAX
MODEL_RETRY_MAX = 300.0
CHANNEL_RECHECK_SECONDS = 30.0  # idle worker: how often to look for due channel passes when none were
CHANNEL_LOADING_SECONDS = 2.0  # the speech model loads in the background: look again after this
# A channel's model could not be downloaded (transient): wait this long, doubling up to the max,
# as for the CLIP model (read when the Worker is made, so tests can set them).
CHANNEL_RETRY_FIRST = MODEL_RETRY_FIRST
CHANNEL_RETRY_MAX = MODEL_RETRY_MAX
CHANNEL_FIX_SECONDS = 3600.0  # the speech model setting is wrong: try again after this (or a restart)


@dataclass
class Done:
    """One finished indexing attempt (kept for /status and tests)."""

    path: str
    state: str
    started: float
    finished: float
    frames: int = 0
    reason: str | None = None


class Worker:
    """The single indexing thread: every catalog/store write of the daemon happens here, in order."""

    def __init__(self, rt: Runtime, queue: WorkQueue, watcher: Watcher, stop: threading.Event,
                 model_retry_first: float = MODEL_RETRY_FIRST, channel_retry_first: float | None = None,
                 channel_retry_max: float | None = None) -> None:
        self.rt = rt
        self.queue = queue
        self.watcher = watcher
        self.stop = stop
        self.indexer = rt.indexer()
        self.reconciler = rt.reconciler()
        self.passes = rt.channel_passes()  # other channels: only while no visual job waits
        self.passes.speech.wait_for_model = False  # its model loads in the background, never in this thread
        self._channels_idle_until = 0.0
        self._channel_paused: dict[str, float] = {}  # channel -> monotonic time it may run again
        self._channel_held: dict[str, float] = {}  # held channel (Channel.can_hold) -> time its engine is tried
        self.channel_unavailable: dict[str, str] = {}  # channel -> why its engine cannot run (status)
        self.channel_retry_first = CHANNEL_RETRY_FIRST if channel_retry_first is None else channel_retry_first
        self.channel_retry_max = CHANNEL_RETRY_MAX if channel_retry_max is None else channel_retry_max
        self.channel_waits: dict[str, list[float]] = {}  # channel -> waits after its failed loads so far
        self.done: deque[Done] = deque(maxlen=1000)
        self.channel_done: deque[Done] = deque(maxlen=1000)  # finished channel passes (state "speech indexed", ...)
        self.job: Job | None = None
        self.heartbeat = time.monotonic()
        self.fatal: BaseException | None = None
        self.waiting: str | None = None  # what the worker waits for before it can index (for STATUS=)
        self.model_retry_first = model_retry_first
        self._offline_logged: set[Path] = set()
        self._thread = threading.Thread(target=self._run, name="reelfind-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def healthy(self) -> bool:
        busy = self.job is not None and self.waiting is None
        return self._thread.is_alive() and (not busy or time.monotonic() - self.heartbeat < STALL_SECONDS)

    def _beat(self) -> bool:
        self.heartbeat = time.monotonic()
        return self.stop.is_set()

    # -- the model ---------------------------------------------------------------------------
    def _load_model(self) -> bool:
        """Load the model, retrying transient failures with backoff; False if stopped or fatal."""
        delay = self.model_retry_first
        tries = 0
        while not self.stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                self.rt.embedder.load()
                if tries:
                    log.info("model loaded after %d failed attempt(s)", tries)
                self.waiting = None
                return True
            except ModelLoadError as e:
                if not getattr(e, "transient", False):
                    log.critical("cannot load the model: %s", e)
                    self.fatal = e
                    return False
                tries += 1
                self.waiting = (f"waiting for the model download (attempt {tries} failed: "
                                f"{str(e)[:120]}; retrying in {delay:.0f} s)")
                log.error("cannot load the model right now (%s): retrying in %.0f s", e, delay)
                self.stop.wait(delay)
                delay = min(MODEL_RETRY_MAX, delay * 2)
        return False

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.passes.close()  # the speech recognition process (a stopped one included) ends

    def _loop(self) -> None:
        if not self._load_model():
            return
        while not self.stop.is_set():
            self.heartbeat = time.monotonic()
            job = self.queue.get(timeout=0.5)
            if job is None:
                self._channel_step()
                continue
            self.job = job
            try:
                self.handle(job)
            except ModelLoadError as e:
                log.critical("cannot load the model: %s", e)
                self.fatal = e
                return
            except StoreError as e:
                # The store is down (Chroma server restarting?): keep the job, wait, try again.
                log.error("%s; retrying %s in %.0f s", e, job.path, STORE_RETRY_SECONDS)
                self.stop.wait(STORE_RETRY_SECONDS)
                self.queue.put(job)
            except Exception:
                log.exception("error handling %s %s (continuing)", job.kind, job.path)
            finally:
                self.job = None

    def _channel_step(self) -> None:
        """No visual job waits: one file's pass of another channel (speech, then people), which
        yields as soon as a visual job is queued (a resumable pass keeps its committed records and
        resumes later). Visual work is never delayed by it. A channel whose engine cannot run now
        (model loading or not downloadable) is held or paused alone (`_unavailable`); the other
        channels go on."""
        now = time.monotonic()
        for name, until in list(self._channel_held.items()):  # a held engine's wait is over: try it again
            if until <= now:
                del self._channel_held[name]
                self.passes.unhold(name)
        if not self.passes.enabled or now < self._channels_idle_until:
            return
        paused = {n for n, until in self._channel_paused.items() if until > now}
        try:
            outs = self.passes.run_due(self.stop, should_yield=lambda: self._beat() or len(self.queue) > 0,
                                       max_files=1, skip=paused)
        except StoreError as e:
            log.error("%s; channel passes resume in %.0f s", e, STORE_RETRY_SECONDS)
            self._channels_idle_until = time.monotonic() + STORE_RETRY_SECONDS
            return
        except ChannelUnavailable as e:  # this channel's model cannot be loaded now: visual work goes on
            self._unavailable(e)
            return
        except Exception:
            log.exception("channel pass step failed (continuing)")
            outs = []
        if not outs:  # nothing due (or only paused/held work): look again then, or when a wait ends
            ends = [u for n, u in self._channel_paused.items() if n in paused] + list(self._channel_held.values())
            self._channels_idle_until = min([time.monotonic() + CHANNEL_RECHECK_SECONDS, *ends])
        for o in outs:
            if self.passes.channel(o.channel).engine_loaded is not False and \
                    self.channel_unavailable.pop(o.channel, None) is not None:
                log.info("%s channel running again after %d failed load(s)", o.channel,
                         len(self.channel_waits.pop(o.channel, [])))
            if o.state != "interrupted":
                self.channel_done.append(Done(o.path, f"{o.channel} {o.state}", time.time(), time.time(),
                                              o.records, o.reason))

    def _unavailable(self, e: ChannelUnavailable) -> None:
        """A channel's engine cannot run now. One that can do some files without it (Channel.can_hold:
        speech with subtitles) is held: those go on, the files that need the engine wait. Any other is
        paused whole. A failed load waits doubling times (as the CLIP model's), then is tried again."""
        name = e.channel or "speech"
        ch = self.passes.channel(name)
        if e.loading:
            wait, why = CHANNEL_LOADING_SECONDS, None
        else:
            waits = self.channel_waits.setdefault(name, [])
            if e.transient:  # doubling, as for the CLIP model
                wait = min(self.channel_retry_max, self.channel_retry_first * 2 ** len(waits))
                why = f"{e} (attempt {len(waits) + 1} failed; retrying in {wait:g} s)"
            else:
                wait = CHANNEL_FIX_SECONDS
                why = f"{e} (fix the setting; trying again in {wait:g} s or on restart)"
            waits.append(wait)
            log.error("%s channel not running: %s", name, why)
            self.channel_unavailable[name] = why
        until = time.monotonic() + wait
        if ch.can_hold:
            ch.held = True
            self._channel_held[name] = until
            self._channels_idle_until = 0.0  # its files that need no engine go on now
        else:
            self._channel_paused[name] = until

    def handle(self, job: Job) -> None:
        if job.kind == "reconcile":
            self._reconcile(job)
        elif job.kind == "gone":
            self._gone(job)
        else:
            self._file(job)

    # -- jobs -------------------------------------------------------------------------------
    def _root_ok(self, root: WatchedRoot | None) -> bool:
        """The root is available (reelcore.ingest.roots: never delete from an unmounted share's mount point)."""
        if root is None:
            return False
        why = self.watcher.offline_reason(root, lambda: bool(self.rt.catalog.in_root(str(root.path))))
        if why is None:
            self._offline_logged.discard(root.path)
            return True
        if root.path not in self._offline_logged:
            log.warning("root %s is %s: its files are marked unavailable, nothing is deleted, until it is back",
                        root.path, why)
            self._offline_logged.add(root.path)
        return False

    def _mark_unavailable(self, root: WatchedRoot) -> None:
        n = self.rt.catalog.set_unavailable(str(root.path), True)
        if n:
            log.warning("root %s is not available: %d file(s) marked unavailable, nothing deleted", root.path, n)

    def _reconcile(self, job: Job) -> None:
        root = job.root
        assert root is not None
        if not self._root_ok(root):
            self._mark_unavailable(root)
            return
        scope = Path(job.path)
        t0 = time.monotonic()
        plan = self.reconciler.reconcile(root.root, scope=None if scope == root.path else scope,
                                         should_stop=self._beat)
        if plan.interrupted:
            return
        for rec in plan.todo:
            self._schedule(rec, root)
        if self.passes.refresh(str(root.path)):  # sidecars added or changed: their passes again
            self._channels_idle_until = 0.0
        if plan.todo or plan.moved or plan.removed or plan.unreadable:
            log.info("reconciled %s in %.1f s: %d to index, %d unchanged, %d moved, %d removed, %d unreadable",
                     job.path, time.monotonic() - t0, len(plan.todo), plan.unchanged, len(plan.moved),
                     len(plan.removed), len(plan.unreadable))
        for path, why in plan.unreadable:
            log.warning("cannot read %s: %s", path, why)

    def _schedule(self, rec: FileRecord, root: WatchedRoot) -> None:
        """A file found by a scan: one that changed recently may still be copying, so it waits to settle."""
        if time.time() - rec.mtime < root.stable_seconds + 1.0:
            self.watcher.tracker.track(rec.path, root)
        else:
            self.queue.put(Job("file", rec.path, root))

    def _gone(self, job: Job) -> None:
        if os.path.exists(job.path):
            return
        catalog = self.rt.catalog
        recs = [r for r in [catalog.get(job.path), *catalog.under(job.path)] if r is not None]
        if not recs:
            return
        if not self._root_ok(job.root):
            if job.root is not None:
                self._mark_unavailable(job.root)
            return
        for rec in recs:
            self.reconciler.file_gone(rec.path)

    def _file(self, job: Job) -> None:
        path, root = job.path, job.root
        if root is None or not os.path.exists(path):
            if job.src and root is not None:
                self.watcher.tracker.vanish(job.src, root)
            return
        if not self._root_ok(root):
            return
        catalog = self.rt.catalog
        if job.src and catalog.get(job.src) is None and catalog.get(path) is None:
            # Renamed from a name we never indexed (say x.mp4.part -> x.mp4): let it settle first.
            self.watcher.tracker.track(path, root)
            return
        if self.watcher.tracker.is_tracking(path) or (job.stat is not None and file_stat(path) != job.stat):
            self.watcher.tracker.track(path, root)  # written to again since it was found stable
            return
        # observe() checks the file type first: a FIFO/socket/device is skipped, never opened.
        rec = self.reconciler.observe(Path(path), root.path)
        if rec is None and job.retry:
            cur = catalog.get(path)
            rec = cur if cur is not None and cur.state == FAILED else None
        if job.src and catalog.get(job.src) is not None and not os.path.exists(job.src):
            self.watcher.tracker.vanish(job.src, root)  # not matched by content: a delete after all
        if rec is not None:
            self._index(rec)

    def _index(self, rec: FileRecord) -> None:
        # One file at a time here (no index.prefetch_next head start): the next queued job is not a
        # record until _file has re-checked it (tracker, stat, observe), and until it is taken a put()
        # may still merge it into a newer job or turn it into "gone" (jobs.WorkQueue, keyed by path).
        started = time.time()
        out = self.indexer.index(rec, self.stop, on_batch=self._beat)
        if out.state == "interrupted":
            return
        self.rt.progress.files_done += 1
        self.done.append(Done(rec.path, out.state, started, time.time(), out.frames, out.reason))
        self._channels_idle_until = 0.0  # a newly indexed file: its other channels are due once the queue is empty
