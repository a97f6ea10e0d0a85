"""Speech recognition with faster-whisper (CTranslate2: int8 on CPU, float16 on CUDA).

The model is `channels.speech.asr_model`: a local CTranslate2 model directory (works offline) or
a faster-whisper model name, downloaded on first use into data_dir/models/whisper (a cached
copy is used without the network). Silero VAD (shipped with faster-whisper) skips silence; word
timestamps are on; the language is detected per file unless `asr_language` names it. Segments
are handed to `on_records` every COMMIT_SEGMENTS segments, so a killed pass resumes after the
last committed one (`resume_at`) instead of from the start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ...config import Settings
from ..base import ChannelError, ChannelUnavailable, OnRecords, Segment, Word
from ..visual.embedder import _is_network_error

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
COMMIT_SEGMENTS = 8  # segments per commit (and cursor move) of a long transcription
# Nice value of the threads that recognise speech (Linux nice is per thread; CTranslate2's worker
# threads are made by the thread that loads the model and inherit it): the visual pass comes first,
# and a window that cannot be interrupted when a visual job arrives then takes little CPU from it.
ASR_NICE = 10
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


@dataclass
class Heard:
    segments: list[Segment] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = True
    note: str | None = None
    language: str | None = None


class Transcriber:
    """One loaded faster-whisper model (loaded on first use, then kept)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.s = settings.channels.speech
        self._model = None
        self._lock = threading.Lock()
        self.device = self.compute_type = None
        self._loader: threading.Thread | None = None
        self._failed: ChannelUnavailable | None = None
        self._helper: threading.Thread | None = None  # the recognition thread of the last pass

    def ready(self, wait: bool):
        """The loaded model. With wait=False (the service's worker, which must never be held up by a
        download) a model not loaded yet is loaded in a background thread and ChannelUnavailable
        (loading=True) says to come back; a failed background load is raised once, then retried."""
        if self._model is not None:
            return self._model
        if wait:
            return self.load()
        with self._lock:
            if self._failed is not None:
                failed, self._failed = self._failed, None
                raise failed
            if self._loader is None or not self._loader.is_alive():
                self._loader = threading.Thread(target=self._load_quietly, name="speech-model-load", daemon=True)
                self._loader.start()
        raise ChannelUnavailable(f"the speech model {self.s.asr_model!r} is loading", transient=True, loading=True)

    def _load_quietly(self) -> None:
        try:
            self.load()
        except ChannelUnavailable as e:
            self._failed = e

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def name(self) -> str:
        m = self.s.asr_model
        return Path(m).name if Path(m).expanduser().is_dir() else m

    def load(self):
        with self._lock:
            if self._model is not None:
                return self._model
            try:
                import ctranslate2
                import tqdm
                from faster_whisper import WhisperModel
            except ImportError as e:
                raise ChannelUnavailable(f"speech recognition needs faster-whisper: {e}") from e
            # faster-whisper makes a (disabled) progress bar per file; tqdm would start a monitor
            # thread for it that outlives every pass. Nothing of ours shows tqdm bars.
            tqdm.tqdm.monitor_interval = 0
            s = self.s
            device = s.asr_device
            if device == "auto":
                device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
            compute = s.asr_compute_type
            if compute == "auto":
                compute = "float16" if device == "cuda" else "int8"
            local = Path(s.asr_model).expanduser()
            kw = {"device": device, "compute_type": compute, "cpu_threads": s.asr_threads}
            def build():
                if local.is_dir():
                    return WhisperModel(str(local), **kw)
                root = str(self.settings.models_dir / "whisper")
                try:  # a copy downloaded earlier: no network needed
                    return WhisperModel(s.asr_model, download_root=root, local_files_only=True, **kw)
                except Exception:
                    log.info("downloading the speech model %s into %s", s.asr_model, root)
                    return WhisperModel(s.asr_model, download_root=root, **kw)

            try:
                model = _in_nice_thread(build)
            except Exception as e:
                transient = _is_network_error(e)
                raise ChannelUnavailable(f"cannot load the speech model {s.asr_model!r}: {type(e).__name__}: {e}",
                                         transient=transient) from e
            self.device, self.compute_type = device, compute
            self._model = model
            log.info("speech model %s loaded (%s, %s)", s.asr_model, device, compute)
            return model

    def transcribe(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                   on_records: OnRecords | None = None, subtitles: list[Segment] | None = None,
                   source: str = "asr", wait_for_model: bool = True) -> Heard | None:
        """Segments heard from `resume_at` on; None when asr_when = other_language and a subtitle is
        in the spoken language (nothing to add).

        The audio is decoded and recognised in a helper thread while this one waits on `stop`: one
        30 s window of CTranslate2 (or a long file's decode and VAD) cannot be interrupted, and a
        visual job must not wait for it. Stopped, this returns at once (complete=False; segments
        committed so far are kept) and the helper drops what it finishes after."""
        model = self.ready(wait_for_model)
        while self._helper is not None and self._helper.is_alive():  # one recognition at a time:
            if stop.is_set():  # a yielded pass's window still finishing must not pile up beside a new one
                return Heard(complete=False)
            self._helper.join(0.05)
        q: queue.Queue = queue.Queue()
        cancel = threading.Event()
        worker = threading.Thread(target=self._recognise, args=(model, path, resume_at, subtitles, source, q, cancel),
                                  name="speech-asr", daemon=True)
        worker.start()
        self._helper = worker
        out: Heard | None = Heard()
        batch: list[Segment] = []
        try:
            while True:
                if stop.is_set():
                    cancel.set()
                    if out is not None:
                        out.complete = False
                    break
                try:
                    item = q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Heard) or item is None:  # the header: duration, language, or nothing to add
                    out = item
                    if out is None or not out.seconds:
                        break
                    out.segments = []
                    continue
                assert out is not None
                out.segments.append(item)
                batch.append(item)
                if on_records is not None and len(batch) >= COMMIT_SEGMENTS:
                    on_records(batch)
                    batch = []
        finally:
            cancel.set()  # the helper drops what it finishes after (an error here, or done)
        if on_records is not None and batch and out is not None and out.complete:
            on_records(batch)
        return out

    def _recognise(self, model, path: str, resume_at: float, subtitles: list[Segment] | None, source: str,
                   q: queue.Queue, cancel: threading.Event) -> None:
        """The helper thread: a Heard header (or None), then each Segment, then _END (or an exception)."""
        _lower_priority()
        try:
            self._recognise_into(model, path, resume_at, subtitles, source, q, cancel)
        except BaseException as e:  # handed to the waiting pass
            q.put(e)
        else:
            q.put(_END)

    def _recognise_into(self, model, path: str, resume_at: float, subtitles: list[Segment] | None, source: str,
                        q: queue.Queue, cancel: threading.Event) -> None:
        from faster_whisper import decode_audio

        s = self.s
        try:
            audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
        except Exception as e:
            raise ChannelError(f"cannot decode the audio of {Path(path).name}: {type(e).__name__}: {e}") from e
        duration = len(audio) / SAMPLE_RATE
        if not len(audio):
            q.put(Heard(note="empty audio stream"))
            return
        start = min(max(0.0, resume_at), duration)
        audio = audio[int(start * SAMPLE_RATE):]
        language = s.asr_language
        if language is None and len(audio) and (s.asr_when == "other_language" and subtitles):
            language, _, _ = model.detect_language(audio, vad_filter=s.asr_vad)
            if any(iso1(x.language) == language for x in subtitles):
                q.put(None)
                return
        if not len(audio) or cancel.is_set():  # resumed at the very end (or no longer wanted)
            q.put(Heard(seconds=duration, language=language))
            return
        segments, info = model.transcribe(audio, language=language, beam_size=s.asr_beam_size,
                                          vad_filter=s.asr_vad, word_timestamps=True,
                                          condition_on_previous_text=False)
        q.put(Heard(seconds=duration, language=info.language))
        for seg in segments:  # decoded lazily, one 30 s window at a time
            if cancel.is_set():
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
            q.put(Segment(round(t0, 3), round(max(t0, t1), 3), text, info.language, source, words))


_END = object()  # the helper thread is done


def _lower_priority() -> None:
    """This thread (and the threads it starts) at ASR_NICE; nothing if the platform cannot."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ASR_NICE)


def _in_nice_thread(fn):
    """fn() in a new thread at ASR_NICE (the model's worker threads inherit it); its result or error."""
    got: list = []

    def run() -> None:
        _lower_priority()
        try:
            got.append((True, fn()))
        except BaseException as e:  # re-raised in the caller
            got.append((False, e))

    t = threading.Thread(target=run, name="speech-model-build", daemon=True)
    t.start()
    t.join()
    ok, value = got[0]
    if not ok:
        raise value
    return value
