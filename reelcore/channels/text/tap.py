"""The text channel's tap on the visual pass's decode (channels/taps.py): no second decode.

On the visual pass's decode thread it runs only the gate (gate.py: a small luma picture every
`check_interval` seconds) and keeps, in an unnamed spool file under the data dir (gone with the
process), each looked-at luma picture (the start/end refinement needs them), what the gate
decided, and, for the few pictures the gate picks for reading, the RGB crop the detector would
see. No OCR there. The text pass then replays these into a `TextReader` (`feed_looked`: the gate
does not run twice), so the records are those of the channel's own decode (channel.py).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..base import FrameTap
from .frames import luma_small, rgb_full, rotation_of
from .gate import FrameGate, GateSettings, text_region

MAX_BYTES = 512 << 20  # a tap that would keep more gives up (the pass decodes itself): ~30 min of 1080p


@dataclass(frozen=True)
class Kept:
    t: float
    small: tuple[int, int, int, int]  # offset, nbytes, h, w of its luma picture in the spool
    crop: tuple[int, int, int, int] | None  # offset, nbytes, h, w of its RGB crop (pictures to read)
    region: tuple[int, int, int, int]  # (x0, y0, x1, y1) of the crop in the full picture
    shape: tuple[int, int]  # (h, w) of the full picture
    cut: bool  # what the gate said: a new shot
    read: bool  # ... and a picture to read
    text: np.ndarray | None  # its text-like blocks (pictures to read only)


class TextTap(FrameTap):
    def __init__(self, gate: GateSettings, spool_dir: Path, max_bytes: int = MAX_BYTES) -> None:
        self.gate = FrameGate(gate)
        self.max_bytes = max_bytes
        self.kept: list[Kept] = []
        self.last_t: float | None = None
        self.failed = False
        self.seconds = 0.0  # time spent in offer (on the visual pass's decode thread), for bench/text_cost.py
        self._spool: IO[bytes] | None = tempfile.TemporaryFile(dir=spool_dir, prefix="text-tap-")  # noqa: SIM115 - lives as long as the tap

    def offer(self, t: float, frame: Any) -> None:
        if self.failed:
            return
        try:
            self.last_t = t
            if not self.gate.due(t):
                return
            t0 = time.perf_counter()
            rotation = rotation_of(frame)
            small = luma_small(frame, rotation)
            cut, read = self.gate.look(t, small)
            crop, region, shape = None, (0, 0, 0, 0), (0, 0)
            if read:
                rgb = rgb_full(frame, rotation)
                shape = rgb.shape[:2]
                region = text_region(self.gate.text, small.shape, shape) if self.gate.text is not None \
                    else (0, 0, shape[1], shape[0])
                x0, y0, x1, y1 = region
                crop = self._write(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            self.kept.append(Kept(t, self._write(small), crop, region, shape, cut, read,
                                  self.gate.text if read else None))
            self.seconds += time.perf_counter() - t0
            if self.nbytes > self.max_bytes:
                self._give_up()
        except Exception:  # never the visual pass's problem: the text pass decodes itself
            self._give_up()

    def _write(self, a: np.ndarray) -> tuple[int, int, int, int]:
        assert self._spool is not None
        off = self.nbytes
        self._spool.write(np.ascontiguousarray(a).data)  # no copy: the array is contiguous
        self.nbytes += a.nbytes
        return off, a.nbytes, a.shape[0], a.shape[1]

    def _give_up(self) -> None:
        self.failed = True
        self.discard()

    def result(self) -> TappedText | None:
        if self.failed or self._spool is None:
            return None
        self._spool.flush()
        return TappedText(self)

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self.kept = []


class TappedText:
    """What a complete tap kept, read back in time order (see module doc)."""

    def __init__(self, tap: TextTap) -> None:
        self.tap = tap
        self.kept = tap.kept
        self.last_t = tap.last_t
        self.checked, self.why = tap.gate.checked, tap.gate.why  # the gate's counts (TextAnalysis)

    def _read(self, where: tuple[int, int, int, int], channels: int) -> np.ndarray:
        spool = self.tap._spool
        assert spool is not None
        off, n, h, w = where
        spool.seek(off)
        a = np.frombuffer(spool.read(n), np.uint8)
        return a.reshape((h, w, channels) if channels > 1 else (h, w))

    def small(self, k: Kept) -> np.ndarray:
        return self._read(k.small, 1)

    def picture(self, k: Kept) -> np.ndarray:
        """The full picture as the reader sees it: only its crop holds pixels (the reader reads
        nothing outside the same region). Raises LookupError for a picture the tap did not keep."""
        if k.crop is None:
            raise LookupError(f"the tap kept no picture to read at {k.t:.3f} s")
        full = np.zeros((*k.shape, 3), np.uint8)
        x0, y0, x1, y1 = k.region
        full[y0:y1, x0:x1] = self._read(k.crop, 3)
        return full

    def discard(self) -> None:
        self.tap.discard()
