"""SpeechChannel: identity from the settings, analyse = subtitles first, then ASR when it should run."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ...config import Settings, SpeechSettings
from ..base import SAID, Analysis, Channel, ChannelError, ChannelUnavailable, OnRecords, Segment
from .asr import Transcriber
from .sink import SpeechSink
from .sources import read_sidecar, read_streams, sidecar_signature, sidecars

log = logging.getLogger(__name__)

SUBTITLES_VERSION = "subs1"  # bump when subtitle parsing changes what records it makes


def asr_identity(s: SpeechSettings) -> str:
    model = Path(s.asr_model).name if ("/" in s.asr_model or s.asr_model.startswith(".")) else s.asr_model
    parts = [f"whisper-{model}", s.asr_compute_type, f"b{s.asr_beam_size}", "vad" if s.asr_vad else "novad",
             s.asr_when]
    if s.asr_language:
        parts.append(s.asr_language)
    return "-".join(parts)


class SpeechChannel(Channel):
    name = "speech"
    evidence = SAID
    needs = ("subtitles", "audio")
    can_hold = True  # files with subtitles (asr_when = no_subtitles) need no ASR model

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.s = settings.channels.speech
        self._asr: Transcriber | None = None  # its model loads on first use (asr.py)
        self._asr_lock = threading.Lock()
        # False in the service: a model still loading gives the pass back instead of holding the worker.
        self.wait_for_model = True

    @property
    def enabled(self) -> bool:
        return self.s.enabled

    @property
    def identity(self) -> str:
        subs = [x for x in self.s.sources if x != "asr"]
        parts = [SUBTITLES_VERSION + ("-" + "-".join(subs) if subs else "")]
        if "asr" in self.s.sources:
            parts.append(asr_identity(self.s))
        return "+".join(parts)

    def source_signature(self, path: str) -> str:
        return sidecar_signature(path) if "sidecar" in self.s.sources else ""

    def analyse(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                on_records: OnRecords | None = None) -> Analysis:
        s = self.s
        out = Analysis(source_sig=self.source_signature(path))
        segs: list[Segment] = []
        if "sidecar" in s.sources:
            for q, lang in sidecars(path):
                segs += read_sidecar(q, lang, s.max_chars_per_file)
        has_audio = True
        if "stream" in s.sources or "asr" in s.sources:
            streamed, has_audio = read_streams(path, s.max_chars_per_file if "stream" in s.sources else 0)
            if "stream" in s.sources:
                segs += streamed
        segs = _dedupe(segs)
        out.segments = segs
        out.seconds = max((x.end for x in segs), default=0.0)
        if "asr" not in s.sources:
            return out
        if not has_audio:
            out.note = "no audio stream" if not segs else None
            return out
        if segs and s.asr_when == "no_subtitles":
            return out
        if self.held:
            raise ChannelUnavailable(f"the speech model {s.asr_model!r} is not loaded yet", transient=True, held=True)
        asr = self.asr()
        heard = asr.transcribe(path, stop, resume_at, on_records, subtitles=segs, source=f"asr:{asr_identity(s)}",
                               wait_for_model=self.wait_for_model)
        if heard is None:  # asr_when = other_language and the subtitles are in the spoken language
            return out
        out.seconds = max(out.seconds, heard.seconds)
        out.complete = heard.complete
        out.note = heard.note or (f"no speech heard ({heard.language or 'language unknown'})"
                                  if not heard.segments and not resume_at else None)
        out.segments = sorted(segs + heard.segments, key=lambda x: (x.start, x.end))
        return out

    @property
    def engine_loaded(self) -> bool | None:
        if "asr" not in self.s.sources:
            return None
        return self._asr is not None and self._asr.loaded

    def sink(self, frame_store: Any) -> SpeechSink:
        return SpeechSink(self.settings, frame_store, self.identity)

    def close(self) -> None:
        """Kill the recognition process, if one was started (a later pass starts a new one)."""
        with self._asr_lock:
            asr, self._asr = self._asr, None
        if asr is not None:
            asr.close()

    def asr(self) -> Transcriber:
        """The ASR engine (loaded once, on first use; its model may download)."""
        with self._asr_lock:
            if self._asr is None:
                self._asr = Transcriber(self.settings)
            return self._asr


def _dedupe(segs: list[Segment]) -> list[Segment]:
    """One record per cue said: a sidecar and a stream often carry the same subtitles."""
    seen: set[tuple[int, str]] = set()
    out = []
    for x in sorted(segs, key=lambda x: (x.start, x.end)):
        key = (round(x.start * 10), " ".join(x.text.casefold().split()))
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


__all__ = ["ChannelError", "SpeechChannel", "asr_identity"]
