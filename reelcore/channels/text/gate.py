"""Which decoded frames are worth reading: OCR on every sampled frame would cost more than the
whole visual channel.

A frame is looked at every `check_interval` seconds (a small luma picture only). It is read when
it is the first of a shot; or when it changed since the last read where text is or was (16x16
blocks that look like text, now or then) and either the picture had stood still before
(something appeared: read after `event_gap`) or `min_gap` seconds passed; or `max_gap` seconds
passed anyway. And then only when a cheap text-presence test (dense short strokes: many strong
horizontal luminance steps in a block) says text may be there; the detector then sees only the
part of the picture around the text-like blocks (`text_region`). Start and end times are placed
between reads from the luma pictures kept since the last read (see channel.py), so a sparse read
rate costs little time accuracy for text that stands still.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

THUMB = 32  # side of the thumbnail for cut and change tests


@dataclass(frozen=True)
class GateSettings:
    check_interval: float = 0.5  # seconds between frames the gate looks at
    min_gap: float = 2.0  # a changing picture is read at most this often (seconds)
    max_gap: float = 10.0  # an unchanging picture is read again after this long (seconds)
    event_gap: float = 1.0  # ... but something appearing on a still picture is read after this long
    calm_checks: int = 2  # still: this many checks in a row without change
    cut_threshold: float = 30.0  # thumbnail mean abs difference (0..255) that starts a new shot
    change_block: float = 10.0  # a 16x16 block of the gate's luma picture changed when its mean abs
    change_blocks: int = 3  # difference passed this; the picture changed when this many blocks did
    # Text-presence test, calibrated on the quality clip (bench/text_quality.py) and the title of
    # big_buck_bunny_0_30.webm (soft, anti-aliased: a step of 60 missed it) against the shared
    # footage: it passes every picture with text >= 24 px at 1080p and ~70% of natural pictures.
    # Text of much lower contrast than edge_step is not read.
    edge_step: int = 40  # luminance step (0..255) between neighbouring pixels that counts as a stroke edge
    # 0.12 (was 0.10): 19% fewer reads on the shared footage (70 -> 57; bench/text_cost.py) with the
    # same quality at >= 24 px (bench/text_quality.py: recall and precision 1.00, starts <= 0.5 s);
    # 0.15 lost a third of the 24-32 px cards.
    edge_density: float = 0.12  # share of edge pixels in a block that looks like text
    edge_blocks: int = 3  # blocks that must look like text


def thumb(luma: np.ndarray) -> np.ndarray:
    """THUMB x THUMB mean grey of a luma picture (float32)."""
    h, w = luma.shape
    rows = (np.arange(THUMB + 1) * h) // THUMB
    cols = (np.arange(THUMB + 1) * w) // THUMB
    ii = cv2.integral(luma)  # exact integer sums: the same means as summing each cell (4x faster)
    corners = ii[np.ix_(rows, cols)].astype(np.int64)
    sums = (corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]).astype(np.float32)
    area = np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)
    return sums / np.maximum(area, 1)


BLOCK = 16  # side of the blocks of the gate's luma picture that the change and text tests use


def _blocks(a: np.ndarray) -> np.ndarray:
    """Mean of each whole BLOCK x BLOCK block (float32). OpenCV's area resize by an integer factor
    sums exactly here (values are integers, weights 1/256), so this equals a numpy block mean, 4x
    faster: the gate also runs on the visual pass's decode thread (tap.py)."""
    h, w = a.shape[0] // BLOCK * BLOCK, a.shape[1] // BLOCK * BLOCK
    if h == 0 or w == 0:
        return np.zeros((h // BLOCK, w // BLOCK), np.float32)
    return cv2.resize(a[:h, :w].astype(np.float32), (w // BLOCK, h // BLOCK), interpolation=cv2.INTER_AREA)


def text_blocks(luma: np.ndarray, s: GateSettings) -> np.ndarray:
    """Which blocks may hold text: many strong, close horizontal steps (stroke edges). Flat,
    blurred and smooth areas do not; busy ones (foliage) do, and the detector decides."""
    edges = cv2.absdiff(luma[:, 1:], luma[:, :-1]) >= s.edge_step
    return _blocks(edges.view(np.uint8)) >= s.edge_density


def text_likely(luma: np.ndarray, s: GateSettings) -> bool:
    """Cheap text-presence test on a (downscaled) luma picture."""
    return int(text_blocks(luma, s).sum()) >= s.edge_blocks


def changed_blocks(a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """Which blocks differ by more than `threshold` (mean abs grey): a lower third or a slate
    changes a few blocks a lot, where a whole-picture mean hardly moves."""
    if a.shape != b.shape:
        return np.ones((a.shape[0] // BLOCK, max(0, a.shape[1] - 1) // BLOCK), bool)
    return _blocks(cv2.absdiff(a, b)) > threshold


class FrameGate:
    """Decides, frame by frame in time order, whether to read a frame (see the module doc)."""

    def __init__(self, settings: GateSettings) -> None:
        self.s = settings
        self.next_check = 0.0
        self.prev: np.ndarray | None = None  # thumbnail of the last checked frame
        self.read_small: np.ndarray | None = None  # luma picture of the last read frame
        self.read_text: np.ndarray | None = None  # its text-like blocks
        self.prev_small: np.ndarray | None = None  # luma picture of the last checked frame
        self.text: np.ndarray | None = None  # text-like blocks of the last looked-at picture
        self.calm = 0  # checks in a row whose picture had not moved since the one before
        self.last_read = -1e9
        self.shot = 0
        self.checked = self.looked = 0
        self.why: dict[str, int] = {"cut": 0, "appeared": 0, "changed": 0, "timer": 0, "no text": 0}

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
        text = text_blocks(small, s)
        if self.read_small is None or self.read_text is None or self.read_text.shape != text.shape:
            changed = True
        else:  # only a change where text is or was counts: a moving picture without text is not read
            where = text | self.read_text
            diff = changed_blocks(small, self.read_small, s.change_block)[:, : where.shape[1]]
            changed = int((diff & where[: diff.shape[0]]).sum()) >= s.change_blocks
        moved = self.prev_small is None or int(
            changed_blocks(small, self.prev_small, s.change_block).sum()) >= s.change_blocks
        # A change after stillness (a title or lower third appears on a static picture) is read at
        # once; a picture that keeps moving is read at most every min_gap seconds.
        event = moved and self.calm >= s.calm_checks and since >= s.event_gap - 1e-6
        self.prev_small, self.calm = small, 0 if moved else self.calm + 1
        want = cut or since >= s.max_gap - 1e-6 or (changed and (event or since >= s.min_gap - 1e-6))
        if not want:
            return cut, False
        self.looked += 1
        why = "cut" if cut else "timer" if since >= s.max_gap - 1e-6 else "appeared" if event else "changed"
        self.why[why] += 1
        # The picture is "read" (timers reset) whether or not text seems present: an empty
        # picture that does not change needs no second look.
        self.last_read, self.read_small, self.read_text = t, small, text
        self.text = text
        likely = int(text.sum()) >= s.edge_blocks
        self.why["no text"] += not likely
        return cut, likely


def text_region(text: np.ndarray, small_shape: tuple[int, int], shape: tuple[int, int],
                pad: int = 1) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in a picture of `shape` (h, w) around the text-like blocks (padded by
    `pad` blocks): the detector reads only this part (its cost grows with the pixels it sees)."""
    ys, xs = np.nonzero(text)
    if len(ys) == 0:
        return 0, 0, shape[1], shape[0]
    fy, fx = shape[0] / small_shape[0], shape[1] / small_shape[1]
    y0, y1 = max(0, (ys.min() - pad) * BLOCK), min(small_shape[0], (ys.max() + 1 + pad) * BLOCK)
    x0, x1 = max(0, (xs.min() - pad) * BLOCK), min(small_shape[1], (xs.max() + 1 + pad) * BLOCK)
    return int(x0 * fx), int(y0 * fy), min(shape[1], int(np.ceil(x1 * fx))), min(shape[0], int(np.ceil(y1 * fy)))
