"""The speech recognition process: one faster-whisper model, loaded once, recognising one file at a time.

It runs in a child of the service (multiprocessing "spawn": a fresh interpreter, never a fork of a
process with threads) so that the parent can stop it with SIGSTOP the moment a visual job is queued:
a CTranslate2 window cannot be interrupted, and in a thread it would share the CPU and the GIL with
the picture pass. It dies with its parent (PR_SET_PDEATHSIG plus a parent-pid check), so a kill -9
of `reelfind serve` or `reelfind index` leaves no orphan.

Protocol on one Pipe. Parent -> child: `Job` (or None: exit). Child -> parent: ("loaded", device,
compute) or ("failed", message, transient) once; then per job tagged with its id: ("heard", id,
seconds, language, note) (or ("nothing", id): asr_when = other_language and a subtitle is in the
spoken language), ("seg", id, Segment) each, then ("end", id) or ("error", id, kind, message).
A job whose id is no longer `wanted` (a shared counter the parent sets) is dropped between segments.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Segment, Word

SAMPLE_RATE = 16_000
ASR_NICE = 10  # the whole process: when it runs beside anything else, it comes last
_PR_SET_PDEATHSIG = 1
# ISO 639-2 codes subtitle streams carry -> Whisper's ISO 639-1 codes (for asr_when = other_language).
_ISO3 = {"eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "ita": "it",
         "por": "pt", "nld": "nl", "dut": "nl", "rus": "ru", "jpn": "ja", "zho": "zh", "chi": "zh",
         "kor": "ko", "ara": "ar", "pol": "pl", "swe": "sv", "tur": "tr", "ukr": "uk", "ces": "cs",
         "cze": "cs", "dan": "da", "fin": "fi", "nor": "no", "nob": "no", "ell": "el", "gre": "el",
         "heb": "he", "hin": "hi", "hun": "hu", "ron": "ro", "rum": "ro", "tha": "th", "vie": "vi"}


def iso1(code: str | None) -> str | None:
    if not code:
        return None
    c = code.lower().replace("_", "-").split("-")[0]
    return _ISO3.get(c, c[:2])


@dataclass(frozen=True)
class ModelSpec:
    """What the child needs to load the model (plain values: it is pickled to a fresh interpreter)."""

    model: str
    device: str
    compute_type: str
    threads: int
    download_root: str


@dataclass(frozen=True)
class Job:
    id: int
    path: str
    resume_at: float
    subtitle_languages: tuple[str | None, ...]
    source: str
    language: str | None
    beam_size: int
    vad: bool
    when: str


def main(conn: Any, spec: ModelSpec, parent_pid: int, wanted: Any, produced: Any) -> None:
    """The child's entry point (multiprocessing target)."""
    _die_with(parent_pid)
    with contextlib.suppress(OSError):
        os.nice(ASR_NICE)
    try:
        model, device, compute = _load(spec)
    except Exception as e:
        conn.send(("failed", f"{type(e).__name__}: {e}", _transient(e)))
        return
    conn.send(("loaded", device, compute))
    while True:
        while not conn.poll(1.0):  # the parent-death signal is the rule; this is the belt and braces
            if os.getppid() != parent_pid:
                return
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            _recognise(model, job, conn, wanted, produced)
        except Exception as e:
            kind = "decode" if isinstance(e, _DecodeError) else "internal"
            conn.send(("error", job.id, kind, f"{type(e).__name__}: {e}" if kind == "internal" else str(e)))
        else:
            conn.send(("end", job.id))


def _die_with(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # died before the signal was armed
        sys.exit(0)


def _load(spec: ModelSpec):
    import ctranslate2
    import tqdm
    from faster_whisper import WhisperModel

    # faster-whisper makes a (disabled) progress bar per file; tqdm would start a monitor thread for it.
    tqdm.tqdm.monitor_interval = 0
    device = spec.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute = spec.compute_type
    if compute == "auto":
        compute = "float16" if device == "cuda" else "int8"
    kw = {"device": device, "compute_type": compute, "cpu_threads": spec.threads}
    local = Path(spec.model).expanduser()
    if local.is_dir():
        return WhisperModel(str(local), **kw), device, compute
    try:  # a copy downloaded earlier: no network needed
        return WhisperModel(spec.model, download_root=spec.download_root, local_files_only=True, **kw), device, compute
    except Exception:
        return WhisperModel(spec.model, download_root=spec.download_root, **kw), device, compute


def _transient(e: BaseException) -> bool:
    from ..visual.embedder import _is_network_error

    return _is_network_error(e)


class _DecodeError(Exception):
    pass


def _recognise(model, job: Job, conn: Any, wanted: Any, produced: Any) -> None:
    from faster_whisper import decode_audio

    try:
        audio = decode_audio(job.path, sampling_rate=SAMPLE_RATE)
    except Exception as e:
        raise _DecodeError(f"cannot decode the audio of {Path(job.path).name}: {type(e).__name__}: {e}") from e
    duration = len(audio) / SAMPLE_RATE
    if not len(audio):
        conn.send(("heard", job.id, 0.0, None, "empty audio stream"))
        return
    start = min(max(0.0, job.resume_at), duration)
    audio = audio[int(start * SAMPLE_RATE):]
    language = job.language
    if language is None and len(audio) and job.when == "other_language" and job.subtitle_languages:
        language, _, _ = model.detect_language(audio, vad_filter=job.vad)
        if any(iso1(x) == language for x in job.subtitle_languages):
            conn.send(("nothing", job.id))
            return
    if not len(audio) or wanted.value != job.id:  # resumed at the very end (or no longer wanted)
        conn.send(("heard", job.id, duration, language, None))
        return
    segments, info = model.transcribe(audio, language=language, beam_size=job.beam_size, vad_filter=job.vad,
                                      word_timestamps=True, condition_on_previous_text=False)
    conn.send(("heard", job.id, duration, info.language, None))
    for seg in segments:  # decoded lazily, one 30 s window at a time
        if wanted.value != job.id:
            return
        t0 = start + float(seg.start)
        if t0 >= duration:
            continue  # a window past the end of the audio (padding)
        t1 = min(start + float(seg.end), duration)
        text = " ".join(seg.text.split())
        if not text:
            continue
        words = tuple(Word(w.word.strip(), round(start + float(w.start), 3),
                           round(min(start + float(w.end), duration), 3))
                      for w in (seg.words or []) if w.word.strip())
        produced.value += 1
        conn.send(("seg", job.id, Segment(round(t0, 3), round(max(t0, t1), 3), text, info.language, job.source,
                                          words)))
