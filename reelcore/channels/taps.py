"""Taps: the non-visual channels' cheap look at the pictures the visual pass decodes anyway.

A channel that reads pictures (text) would otherwise decode each file a second time. The indexer
offers every decoded picture of a file to the taps of the enabled channels (`Channel.tap`) on its
decode thread; a tap only keeps the few pictures its channel will need (never the channel's heavy
work: visual comes first). After the visual pass, `ChannelPasses.run` takes the file's tap and
the channel reads from it (`Channel.analyse_tapped`) instead of decoding.

Correctness first: a tap is handed over only when it saw the whole file in one decode without
trouble (no resume from a cursor, no decode error, not stopped), for the same channel identity,
and while the process that decoded it still runs. Anything else (a resumed visual pass, a crash,
a copy, changed settings, a bound passed) leaves no tap and the channel decodes the file itself.
Bounded: at most `max_files` (256) finished taps wait, `max_bytes` (2 GB: about 2 h of 1080p) in all;
the oldest are dropped (their files decode on their own).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Channel, FrameTap

log = logging.getLogger(__name__)


@dataclass
class _Tap:
    channel: str
    identity: str
    tap: FrameTap


class TapSet:
    """The taps of one file's decode (one per tapping channel)."""

    def __init__(self, video_id: str, taps: list[_Tap]) -> None:
        self.video_id, self.taps = video_id, taps

    def offer(self, t: float, frame: Any) -> None:
        for tp in list(self.taps):
            try:
                tp.tap.offer(t, frame)
            except Exception:  # a tap's bug is never the visual pass's problem: that channel decodes
                log.exception("the %s tap failed on %s: it decodes on its own", tp.channel, self.video_id)
                tp.tap.discard()
                self.taps.remove(tp)

    def discard(self) -> None:
        for tp in self.taps:
            tp.tap.discard()


class TapBoard:
    """Finished taps by (channel, video id), from the indexer to the channel passes (one process)."""

    def __init__(self, spool_dir: Path, channels: Callable[[], list[Channel]],
                 max_files: int = 256, max_bytes: int = 2 << 30) -> None:
        self.spool_dir, self._channels = spool_dir, channels
        self.max_files, self.max_bytes = max_files, max_bytes
        self._tapping: list[Channel] | None = None
        self._done: OrderedDict[tuple[str, str], _Tap] = OrderedDict()
        self._lock = threading.Lock()

    def _taps(self) -> list[_Tap]:
        if self._tapping is None:
            self._tapping = [c for c in self._channels() if c.enabled]
        out = []
        for ch in self._tapping:
            tap = ch.tap(self.spool_dir)
            if tap is not None:
                out.append(_Tap(ch.name, ch.identity, tap))
        return out

    def open(self, video_id: str, resumed: bool) -> TapSet | None:
        """A file's decode starts: forget its older taps; taps for it unless the visual pass
        resumes from a cursor (then the decode does not show the pictures before it)."""
        self.drop(video_id)
        if resumed:
            return None
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            taps = self._taps()
        except Exception:  # never the visual pass's problem
            log.exception("cannot start the taps: channels decode on their own")
            return None
        return TapSet(video_id, taps) if taps else None

    def publish(self, tapset: TapSet, complete: bool) -> None:
        """The decode ended: keep the taps that have a result when it saw the whole file."""
        with self._lock:
            for tp in tapset.taps:
                if not complete or tp.tap.result() is None:
                    tp.tap.discard()
                    continue
                old = self._done.pop((tp.channel, tapset.video_id), None)
                if old is not None:
                    old.tap.discard()
                self._done[(tp.channel, tapset.video_id)] = tp
            while self._done and (len(self._done) > self.max_files
                                  or sum(t.tap.nbytes for t in self._done.values()) > self.max_bytes):
                _, oldest = self._done.popitem(last=False)
                oldest.tap.discard()

    def take(self, channel: str, video_id: str, identity: str) -> FrameTap | None:
        """The finished tap of a file for this channel identity (removed from the board: the caller
        discards it when done), or None."""
        with self._lock:
            tp = self._done.pop((channel, video_id), None)
        if tp is None:
            return None
        if tp.identity != identity:
            tp.tap.discard()
            return None
        return tp.tap

    def drop(self, video_id: str) -> None:
        with self._lock:
            gone = [k for k in self._done if k[1] == video_id]
            taps = [self._done.pop(k) for k in gone]
        for tp in taps:
            tp.tap.discard()

    def close(self) -> None:
        with self._lock:
            taps, self._done = list(self._done.values()), OrderedDict()
        for tp in taps:
            tp.tap.discard()
        shutil.rmtree(self.spool_dir, ignore_errors=True)
