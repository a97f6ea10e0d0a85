"""Which decoded frames are worth reading: OCR on every sampled frame would cost more than the
whole visual channel.

A frame is looked at every `check_interval` seconds (a small grey picture only). It is read when
it is the first of a shot, or when the picture changed enough since the last read and either it
had stood still before (something appeared) or at least `min_gap` seconds passed, or `max_gap`
seconds passed anyway; and then only when a cheap
text-presence test (dense short strokes: many strong horizontal luminance steps in a small block)
says text may be there. Start and end times are then placed between reads from the grey pictures
kept since the last read (see channel.py), so a sparse read rate costs no time accuracy for text
that stands still.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THUMB = 32  # side of the thumbnail for cut and change tests


@dataclass(frozen=True)
class GateSettings:
    check_interval: float = 0.5  # seconds between frames the gate looks at
    min_gap: float = 2.0  # a changing picture is read at most this often (seconds)
    max_gap: float = 10.0  # an unchanging picture is read again after this long (seconds)
    cut_threshold: float = 30.0  # thumbnail mean abs difference (0..255) that starts a new shot
    change_block: float = 10.0  # a 16x16 block of the gate's luma picture changed when its mean abs
    change_blocks: int = 3  # difference passed this; the picture changed when this many blocks did
    edge_step: int = 40  # luminance step (0..255) between neighbouring pixels that counts as a stroke edge
    edge_density: float = 0.12  # share of edge pixels in a block that looks like text
    edge_blocks: int = 2  # blocks that must look like text


def thumb(luma: np.ndarray) -> np.ndarray:
    """THUMB x THUMB mean grey of a luma picture (float32)."""
    h, w = luma.shape
    rows = (np.arange(THUMB + 1) * h) // THUMB
    cols = (np.arange(THUMB + 1) * w) // THUMB
    sums = np.add.reduceat(np.add.reduceat(luma.astype(np.float32), rows[:-1], axis=0), cols[:-1], axis=1)
    area = np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)
    return sums / np.maximum(area, 1)


def text_likely(luma: np.ndarray, s: GateSettings) -> bool:
    """Cheap text-presence test on a (downscaled) luma picture: text is many strong, close
    horizontal steps (stroke edges) in a small area. Flat, blurred and smooth pictures fail it;
    busy ones (foliage) pass, and the detector decides."""
    g = luma.astype(np.int16)
    edges = np.abs(np.diff(g, axis=1)) >= s.edge_step
    bh, bw = 8, 32
    h, w = edges.shape[0] // bh * bh, edges.shape[1] // bw * bw
    if h == 0 or w == 0:
        return False
    dens = edges[:h, :w].reshape(h // bh, bh, w // bw, bw).mean(axis=(1, 3))
    return int((dens >= s.edge_density).sum()) >= s.edge_blocks


def changed_blocks(a: np.ndarray, b: np.ndarray, threshold: float, side: int = 16) -> int:
    """How many side x side blocks differ by more than `threshold` (mean abs grey): a lower third
    or a slate changes a few blocks a lot, where a whole-picture mean hardly moves."""
    if a.shape != b.shape:
        return 1 << 30
    h, w = a.shape[0] // side * side, a.shape[1] // side * side
    d = np.abs(a[:h, :w].astype(np.int16) - b[:h, :w].astype(np.int16))
    return int((d.reshape(h // side, side, w // side, side).mean(axis=(1, 3)) > threshold).sum())


class FrameGate:
    """Decides, frame by frame in time order, whether to read a frame (see the module doc)."""

    def __init__(self, settings: GateSettings) -> None:
        self.s = settings
        self.next_check = 0.0
        self.prev: np.ndarray | None = None  # thumbnail of the last checked frame
        self.read_small: np.ndarray | None = None  # luma picture of the last read frame
        self.prev_small: np.ndarray | None = None  # luma picture of the last checked frame
        self.calm = False  # the last checked frame had not moved since the one before it
        self.last_read = -1e9
        self.shot = 0
        self.checked = self.looked = 0

    def due(self, t: float) -> bool:
        """Whether the frame at `t` is one the gate looks at (else skip it without converting it)."""
        return t >= self.next_check - 1e-6

    def look(self, t: float, small: np.ndarray) -> tuple[bool, bool]:
        """(new shot?, read it?) for a checked frame; `small` is its downscaled luma."""
        s = self.s
        self.next_check = t + s.check_interval
        self.checked += 1
        th = thumb(small)
        cut = self.prev is None or float(np.abs(th - self.prev).mean()) > s.cut_threshold
        self.prev = th
        if cut:
            self.shot += 1
        since = t - self.last_read
        changed = self.read_small is None or changed_blocks(small, self.read_small, s.change_block) >= s.change_blocks
        moved = self.prev_small is None or changed_blocks(small, self.prev_small, s.change_block) >= s.change_blocks
        # A change after stillness (a title or lower third appears on a static picture) is read at
        # once; a picture that keeps moving is read at most every min_gap seconds.
        event = moved and self.calm
        self.prev_small, self.calm = small, not moved
        want = cut or since >= s.max_gap - 1e-6 or (changed and (event or since >= s.min_gap - 1e-6))
        if not want:
            return cut, False
        self.looked += 1
        # The picture is "read" (timers reset) whether or not text seems present: an empty
        # picture that does not change needs no second look.
        self.last_read, self.read_small = t, small
        return cut, text_likely(small, s)
