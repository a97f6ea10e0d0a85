"""The one interface every channel has, and the records a transcript-like channel produces.

Modelled on Immich's machine-learning service (one base class per model task): a channel says
who it is (`identity`: engine + model + the settings that change its output; a new identity is a
new store collection and a backfill of that channel alone), what input it needs, how it turns a
file into time-coded records (`analyse`) and which kind of evidence its records are when searched
(`evidence`: "seen", "said"; "written" and "who" come with the text and people channels).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

SEEN, SAID = "seen", "said"
Need = Literal["frames", "audio", "subtitles"]


@dataclass(frozen=True)
class Word:
    """One word with its times (seconds from the start of the file)."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A time-coded piece of transcript: a subtitle cue or an ASR segment."""

    start: float
    end: float
    text: str
    language: str | None
    source: str  # "sidecar:<file name>", "stream:<index>:<codec>" or "asr:<model identity>"
    words: tuple[Word, ...] = ()


@dataclass
class Analysis:
    """What one pass over one file found. `seconds`: media time it covered (for progress)."""

    segments: list[Segment] = field(default_factory=list)
    seconds: float = 0.0
    note: str | None = None
    source_sig: str | None = None  # what the inputs looked like (a sidecar's change re-runs the pass)
    complete: bool = True  # False: stopped early (asked to yield); committed records are kept


# Called with the records found so far (in time order) so a long pass can commit as it goes.
OnRecords = Callable[[list[Segment]], None]


class ChannelError(Exception):
    """This channel cannot analyse this file (bad sidecar, unreadable audio): the pass fails, the
    file's other channels do not."""


class ChannelUnavailable(Exception):
    """The channel's engine cannot run now (its model cannot be loaded or downloaded): not the
    file's fault. The pass is given back (no attempt spent) and tried again later. `transient`:
    may pass by itself (network); otherwise the admin must fix a setting."""

    def __init__(self, message: str, transient: bool = False, loading: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.loading = loading  # the model is being loaded (or downloaded) in the background: soon


class Channel(ABC):
    """One kind of evidence. Subclasses live one per folder (`speech/`) or module (`visual.py`)."""

    name: ClassVar[str]
    evidence: ClassVar[str]
    needs: ClassVar[tuple[Need, ...]]

    @property
    @abstractmethod
    def identity(self) -> str:
        """Engine + model + output-changing settings, e.g. 'speech-subs+whisper-base-int8'."""

    @property
    def enabled(self) -> bool:
        return True

    @abstractmethod
    def analyse(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                on_records: OnRecords | None = None) -> Analysis:
        """Time-coded records of one file. Raises ChannelError for a problem of this file."""
