"""The one interface every channel has, and the records a transcript-like channel produces.

Modelled on Immich's machine-learning service (one base class per model task): a channel says
who it is (`identity`: engine + model + the settings that change its output; a new identity is a
new store collection and a backfill of that channel alone), what input it needs, how it turns a
file into time-coded records (`analyse`) and which kind of evidence its records are when searched
(`evidence`: "seen", "said", "written", "who") and where its records go (`sink`: its store
collection and any local index, behind `RecordSink`), so `passes.py` runs every channel alike.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

SEEN, SAID, WRITTEN, WHO = "seen", "said", "written", "who"
EVIDENCE = (SEEN, SAID, WRITTEN, WHO)  # the names `search_footage(channels=[...])` takes
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
OnRecords = Callable[[list[Any]], None]


class ChannelError(Exception):
    """This channel cannot analyse this file (bad sidecar, unreadable audio): the pass fails, the
    file's other channels do not."""


class ChannelUnavailable(Exception):
    """The channel's engine cannot run now (its model cannot be loaded or downloaded): not the
    file's fault. The pass is given back (no attempt spent) and tried again later. `transient`:
    may pass by itself (network); otherwise the admin must fix a setting."""

    def __init__(self, message: str, transient: bool = False, loading: bool = False, held: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.loading = loading  # the model is being loaded (or downloaded) in the background: soon
        self.held = held  # the channel is held (Channel.held): only this file waits, the next may run
        self.channel: str | None = None  # set by passes.py: which channel could not run


class Channel(ABC):
    """One kind of evidence. Subclasses live one per folder (`speech/`) or module (`visual.py`)."""

    name: ClassVar[str]
    evidence: ClassVar[str]
    needs: ClassVar[tuple[Need, ...]]
    # A channel that can do some files without its engine (speech: subtitles need no ASR model) says
    # so with can_hold; while its engine cannot load, the service sets `held` instead of pausing the
    # whole channel: analyse then does what needs no engine and raises ChannelUnavailable(held=True)
    # for a file that needs it (that file waits; the others go on). Other channels are paused whole.
    can_hold: ClassVar[bool] = False
    held: bool = False

    @property
    def engine_loaded(self) -> bool | None:
        """Whether the engine a held channel waits for is loaded (None: no such engine)."""
        return None

    @property
    @abstractmethod
    def identity(self) -> str:
        """Engine + model + output-changing settings, e.g. 'speech-subs+whisper-base-int8'."""

    @property
    def enabled(self) -> bool:
        return True

    def source_signature(self, path: str) -> str:
        """What the channel's inputs beside the video look like (a sidecar): a change re-runs the pass."""
        return ""

    @abstractmethod
    def analyse(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                on_records: OnRecords | None = None) -> Any:
        """Time-coded records of one file (an `Analysis` or a subclass of it: `seconds`, `note`,
        `source_sig`, `complete`). Raises ChannelError for a problem of this file."""

    @abstractmethod
    def sink(self, frame_store: Any) -> RecordSink:
        """Where this identity's records go, on the frame store's Chroma client (opened lazily)."""

    def tap(self, spool_dir: Path) -> FrameTap | None:
        """A cheap look at the pictures the visual pass decodes (taps.py), or None: this channel
        decodes the file itself. The tap must never do the channel's heavy work there."""
        return None

    def analyse_tapped(self, tapped: Any, path: str, stop: threading.Event, resume_at: float = 0.0,
                       on_records: OnRecords | None = None) -> Any:
        """`analyse` from what a complete tap kept (`FrameTap.result()`) instead of a decode."""
        return self.analyse(path, stop, resume_at, on_records)


class FrameTap(ABC):
    """Sees every picture the visual pass decodes, on its decode thread: it must stay cheap and
    bounded, and never raise (a tap that fails or outgrows its bound gives up: `result` is None)."""

    nbytes: int = 0  # what it keeps (memory and spool), for the board's bound

    @abstractmethod
    def offer(self, t: float, frame: Any) -> None:
        """One decoded picture (an av.VideoFrame) at `t` seconds (the visual pass's time origin)."""

    @abstractmethod
    def result(self) -> Any | None:
        """After the whole file was offered: what `analyse_tapped` reads (None: the tap gave up)."""

    @abstractmethod
    def discard(self) -> None:
        """Free what it kept (spool files). Safe to call twice."""


class RecordSink(ABC):
    """A channel's records of one identity: its store collection (and any local index built from it).

    `passes.py` calls `append` while a resumable pass commits as it goes, then `commit` once at its
    end. A channel whose pass commits only at its end keeps `resumable = False` (a killed pass starts
    again from the beginning; `committed` is then never asked)."""

    resumable: ClassVar[bool] = False

    def committed(self, video_id: str) -> list[Any]:
        """Records an interrupted pass of this file committed (resume after them)."""
        return []

    def append(self, video_id: str, path: str, records: list[Any], first: int) -> float:
        """Commit records `first..` of a pass still running; returns the cursor (seconds) reached."""
        raise NotImplementedError

    @abstractmethod
    def commit(self, video_id: str, path: str, analysis: Any, prior: list[Any]) -> int:
        """A finished pass: the file's records are `prior` + the analysis's. Returns how many."""

    def copy_video(self, src_video_id: str, dst_video_id: str, path: str, expect: int) -> int | None:
        """Store the records of a finished pass of `src_video_id` (an identical file) again under
        `dst_video_id` (a copy, at `path`), so the copy's pass is not run again. Returns how many;
        None, and nothing written, when this sink cannot or the store does not hold exactly `expect`
        of them (the pass then runs as usual)."""
        return None

    @abstractmethod
    def delete_video(self, video_id: str) -> None:
        """Every record of one file version (it is gone, or changed)."""

    @abstractmethod
    def forget(self) -> None:
        """Every record of this channel, of every identity (`reelfind forget --channel`)."""
