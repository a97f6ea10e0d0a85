"""Speech recognition with faster-whisper (CTranslate2: int8 on CPU, float16 on CUDA).

The model is `channels.speech.asr_model`: a local CTranslate2 model directory (works offline) or
a faster-whisper model name, downloaded on first use into data_dir/models/whisper (a cached
copy is used without the network). Silero VAD (shipped with faster-whisper) skips silence; word
timestamps are on; the language is detected per file unless `asr_language` names it. Segments
are handed to `on_records` every COMMIT_SEGMENTS segments, so a killed pass resumes after the
last committed one (`resume_at`) instead of from the start.

Recognition runs in a child process (`asr_child`), started on first use and kept warm: a pass asked
to yield (a visual job is queued) stops it with SIGSTOP at once, so its in-flight window costs the
picture pass no CPU (nor GIL); the next pass resumes it with SIGCONT, and it drops the abandoned
file's remaining windows as soon as the one it was in finishes.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import Settings
from ..base import ChannelError, ChannelUnavailable, OnRecords, Segment
from .asr_child import ASR_NICE, Job, ModelSpec, iso1
from .asr_child import main as child_main

log = logging.getLogger(__name__)

COMMIT_SEGMENTS = 8  # segments per commit (and cursor move) of a long transcription
POLL_SECONDS = 0.05  # how often a waiting pass looks at `stop` (a visual job queued)
__all__ = ["ASR_NICE", "COMMIT_SEGMENTS", "Heard", "Transcriber", "iso1"]


@dataclass
class Heard:
    segments: list[Segment] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = True
    note: str | None = None
    language: str | None = None


class Transcriber:
    """One faster-whisper model in a child process (started on first use, then kept warm)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.s = settings.channels.speech
        self._lock = threading.Lock()
        self.device: str | None = None
        self.compute_type: str | None = None
        self._owner: threading.Thread | None = None  # starts the child and lives as long as it
        self._loaded = threading.Event()  # set when the owner's load attempt ended (either way)
        self._failed: ChannelUnavailable | None = None
        self._proc: Any = None  # multiprocessing.Process, once loaded
        self._conn: Any = None
        self._wanted: Any = None  # shared: the id of the job the child should work on
        self.produced: Any = None  # shared: segments the child has recognised (tests watch it)
        self._job = 0
        self._paused = False
        self._closed = threading.Event()
        self._atexit = False

    # -- the child process ---------------------------------------------------------------------
    def ready(self, wait: bool) -> None:
        """Make sure the model is loaded. With wait=False (the service's worker, which must never be
        held up by a download) a model not loaded yet is loaded in the background and
        ChannelUnavailable (loading=True) says to come back; a failed load is raised once, then
        retried (the caller's backoff decides when)."""
        with self._lock:
            if self.loaded:
                return
            if self._owner is None or (self._loaded.is_set() and self._failed is None):
                self._start()  # never started, or a child that loaded has died since
        if wait:
            self._loaded.wait()
        with self._lock:
            if self.loaded:
                return
            if self._loaded.is_set():  # the load ended without a model
                failed = self._failed or ChannelUnavailable("the speech process ended", transient=True)
                self._failed, self._owner = None, None
                raise failed
        raise ChannelUnavailable(f"the speech model {self.s.asr_model!r} is loading", transient=True, loading=True)

    def load(self) -> None:
        self.ready(wait=True)

    def _start(self) -> None:
        self._closed.set()  # a previous owner (its child gone) ends
        self._loaded, self._closed = threading.Event(), threading.Event()
        self._failed, self._proc, self._paused = None, None, False
        # PR_SET_PDEATHSIG fires when the *thread* that started the child ends: a thread of its own,
        # alive as long as the child, starts it (a short-lived loader thread would kill it on exit).
        self._owner = threading.Thread(target=self._own, args=(self._loaded, self._closed),
                                       name="speech-asr-owner", daemon=True)
        self._owner.start()

    def _own(self, loaded: threading.Event, closed: threading.Event) -> None:
        s = self.s
        ctx = multiprocessing.get_context("spawn")
        spec = ModelSpec(s.asr_model, s.asr_device, s.asr_compute_type, s.asr_threads,
                         str(self.settings.models_dir / "whisper"))
        ours, theirs = ctx.Pipe()
        wanted, produced = ctx.Value("q", 0, lock=False), ctx.Value("q", 0, lock=False)
        proc = ctx.Process(target=child_main, args=(theirs, spec, os.getpid(), wanted, produced),
                           name="reelfind-asr", daemon=True)
        try:
            proc.start()
            theirs.close()
            msg = ours.recv()
        except (OSError, EOFError) as e:
            msg = ("failed", f"the speech process ended while loading: {type(e).__name__}: {e}", False)
        if msg[0] != "loaded":
            _kill(proc)
            self._failed = ChannelUnavailable(f"cannot load the speech model {s.asr_model!r}: {msg[1]}",
                                              transient=bool(msg[2]))
            loaded.set()
            return
        with self._lock:
            self.device, self.compute_type = msg[1], msg[2]
            self._proc, self._conn, self._wanted, self.produced = proc, ours, wanted, produced
        if not self._atexit:  # registered after multiprocessing's exit handler (which would join a
            atexit.register(self.close)  # stopped child for ever), so it runs first
            self._atexit = True
        log.info("speech model %s loaded in process %d (%s, %s)", s.asr_model, proc.pid, msg[1], msg[2])
        loaded.set()
        closed.wait()

    @property
    def loaded(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def paused(self) -> bool:
        return self._paused

    def close(self) -> None:
        """Kill the child (SIGKILL works on a stopped process; SIGTERM would wait for SIGCONT)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            _kill(proc)
        self._closed.set()

    @property
    def name(self) -> str:
        m = self.s.asr_model
        return Path(m).name if Path(m).expanduser().is_dir() else m

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(self._proc.pid, sig)

    def pause(self) -> None:
        if self._proc is not None and not self._paused:
            self._signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._proc is not None and self._paused:
            self._signal(signal.SIGCONT)
            self._paused = False

    # -- a pass --------------------------------------------------------------------------------
    def transcribe(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                   on_records: OnRecords | None = None, subtitles: list[Segment] | None = None,
                   source: str = "asr", wait_for_model: bool = True) -> Heard | None:
        """Segments heard from `resume_at` on; None when asr_when = other_language and a subtitle is
        in the spoken language (nothing to add).

        This thread waits on `stop` while the child recognises. Stopped (a visual job is queued, or
        shutdown), the child is paused with SIGSTOP on the spot and this returns at once
        (complete=False; segments committed so far are kept). The next call resumes the child, which
        drops the abandoned file after the window it is in (kill -9 of this process kills it)."""
        self.ready(wait_for_model)
        if stop.is_set():
            return Heard(complete=False)
        s = self.s
        self._job += 1
        job = Job(self._job, path, resume_at, tuple(x.language for x in subtitles or []), source,
                  s.asr_language, s.asr_beam_size, s.asr_vad, s.asr_when)
        self._wanted.value = job.id  # an abandoned job still running is dropped at its next segment
        self.resume()
        try:
            self._conn.send(job)
        except OSError as e:
            self._lost(e)
        out: Heard | None = Heard()
        batch: list[Segment] = []
        while True:
            if stop.is_set():
                self.pause()
                if out is not None:
                    out.complete = False
                return out  # committed batches are kept; the rest is redone from the cursor
            try:
                if not self._conn.poll(POLL_SECONDS):
                    if not self._proc.is_alive():
                        self._lost(None)
                    continue
                msg = self._conn.recv()
            except (OSError, EOFError) as e:
                self._lost(e)
            if msg[1] != job.id:
                continue  # what an abandoned job sent before it saw it was no longer wanted
            kind = msg[0]
            if kind == "seg":
                assert out is not None
                out.segments.append(msg[2])
                batch.append(msg[2])
                if on_records is not None and len(batch) >= COMMIT_SEGMENTS:
                    on_records(batch)
                    batch = []
            elif kind == "heard":
                out = Heard(seconds=msg[2], language=msg[3], note=msg[4])
            elif kind == "nothing":
                out = None
            elif kind == "error":
                if msg[2] == "decode":
                    raise ChannelError(msg[3])
                raise RuntimeError(f"speech recognition failed: {msg[3]}")
            elif kind == "end":
                break
        if on_records is not None and batch and out is not None:
            on_records(batch)
        return out

    def _lost(self, e: BaseException | None) -> None:
        """The child died under a pass (killed, out of memory): the next pass starts a new one."""
        with self._lock:
            proc, self._proc, self._owner, self._paused = self._proc, None, None, False
            self._closed.set()
        if proc is not None:
            _kill(proc)
        why = f": {type(e).__name__}: {e}" if e is not None else f" (exit code {proc.exitcode if proc else '?'})"
        raise ChannelUnavailable(f"the speech recognition process ended{why}", transient=True)


def _kill(proc: Any) -> None:
    with contextlib.suppress(Exception):
        proc.kill()
        proc.join(10)
