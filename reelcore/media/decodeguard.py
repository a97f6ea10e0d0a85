"""Guards around one file's decode: a stall watch, and telling a damaged file from a bad moment.

- `StallWatch`: a decode that reads no packet and decodes no frame for `sampling.decode_stall_seconds`
  (a wedged FFmpeg, a share whose reads hang) ends the file as failed instead of stalling the worker.
- `short_read`: decoding that ended early is either a damaged file (the same stop on every try:
  indexed with a note, as before) or an unreadable moment (an OS-level read error such as EIO/ESTALE,
  the file changed or vanished under the decoder, its root gone): then the file is NOT indexed, what
  earlier runs stored is kept, and it is tried again later.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from .decode import DecodeError, DecodeReport


class DecodeStall(DecodeError):
    """The decoder made no progress for the stall limit; the file fails this try (retried later)."""


class StallWatch:
    """Progress check the embed loop calls while it waits for frames.

    Progress is any change of the decoder's packet/frame counters in its DecodeReport. Time during
    which the decoder waits for us (the frame queue is full) or has finished does not count."""

    def __init__(self, report: DecodeReport, limit: float, waiting: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.limit = limit
        self.waiting = waiting
        self.clock = clock
        self._seen = self._key()
        self._since = clock()

    def _key(self) -> tuple[int, int]:
        return self.report.packets, self.report.frames_decoded

    def check(self, at: float = 0.0) -> None:
        """Raise DecodeStall once no progress was seen for longer than the limit."""
        key, now = self._key(), self.clock()
        if key != self._seen or self.waiting():
            self._seen, self._since = key, now
            return
        if now - self._since > self.limit:
            raise DecodeStall(f"decoder stalled: no progress for {self.limit:g} s (at {at:.1f} s of the "
                              "file); given up on this try, retried later")


@dataclass(frozen=True)
class Snapshot:
    """What the file looked like when its decode started."""

    size: int
    mtime: float
    inode: int

    @classmethod
    def of(cls, path: str) -> Snapshot | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime, st.st_ino)


def short_read(path: str, root: str, before: Snapshot | None, report: DecodeReport) -> tuple[str, bool] | None:
    """Why this run's decode cannot be trusted as the whole file (an unreadable moment), else None.

    Asked only when the decode stopped early or hit an OS-level read error. The bool says whether
    the same stop on the next try would prove a damaged spot (an I/O error on an unchanged file);
    a file that changed or vanished under the decoder, or a root gone, never does."""
    if not os.path.isdir(root):
        return f"the folder {root} went away while the file was read", False
    now = Snapshot.of(path)
    if now is None:
        return "the file went away while it was read", False
    if before is not None and now != before:
        return "the file changed while it was read", False
    if report.io_error:
        return f"read error at {report.end:.1f} s ({report.io_error})", True
    return None
