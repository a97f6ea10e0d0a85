"""Follow a face through a shot: detections on consecutive samples -> one track, one vector.

A detection continues an open track when the boxes overlap (IoU), or, when they only lie close
(a quick move between samples), when its embedding is near the track's. A hard cut or a gap of
more than `max_gap` seconds closes a track. Of each track the `best` faces (size, sharpness,
frontal: Face.quality) are kept as aligned chips while it runs; when it closes they are embedded
and their normalised mean is the track's vector, the best chip its JPEG crop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .engine import Face, FaceEngine

IOU_SAME = 0.3  # boxes overlapping this much on consecutive samples are the same face
NEAR = 1.5  # centre distance (in face sizes) within which the embedding decides
SAME_FACE = 0.6  # dlib's convention: raw descriptors closer than this are one person
MAX_BOXES = 600  # boxes kept per track (for the viewer's strip), evenly thinned past this


@dataclass(frozen=True)
class FaceTrack:
    """One face followed through a shot."""

    start: float
    end: float
    frames: int  # samples the face was detected on
    box: tuple[int, int, int, int]  # on the best frame
    best_t: float
    quality: float  # of the best face
    vector: np.ndarray  # 128-d, unit length
    crop: bytes  # JPEG of the aligned best face
    boxes: tuple[tuple[float, tuple[int, int, int, int]], ...] = ()


@dataclass
class _Best:
    quality: float
    t: float
    face: Face
    chip: np.ndarray


@dataclass
class _Open:
    start: float
    end: float
    box: tuple[int, int, int, int]
    frames: int = 0
    best: list[_Best] = field(default_factory=list)
    boxes: list[tuple[float, tuple[int, int, int, int]]] = field(default_factory=list)
    ref: np.ndarray | None = None  # raw descriptor of the best face so far, computed when needed


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    sa, sb = max(a[2] - a[0], 1), max(b[2] - b[0], 1)
    if not 0.5 <= sa / sb <= 2.0:
        return False
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    return float(np.hypot(dx, dy)) <= NEAR * max(sa, sb)


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)


class Tracker:
    """Feed it the faces of each sampled frame in time order; it returns tracks as they close."""

    def __init__(self, engine: FaceEngine, max_gap: float = 1.25, best: int = 3, crop_size: int = 112) -> None:
        self.engine = engine
        self.max_gap = max_gap
        self.k = best
        self.crop_size = crop_size
        self.open: list[_Open] = []

    def add(self, t: float, rgb: np.ndarray, faces: list[Face], cut: bool = False) -> list[FaceTrack]:
        """The faces found at time `t`; returns the tracks this frame closed."""
        closed = [tr for tr in self.open if cut or t - tr.end > self.max_gap]
        self.open = [tr for tr in self.open if tr not in closed]
        done = [self._finish(tr) for tr in closed]
        pairs = sorted(((iou(tr.box, f.box), i, j) for i, tr in enumerate(self.open) for j, f in enumerate(faces)),
                       reverse=True)
        taken_t: set[int] = set()
        taken_f: set[int] = set()
        for score, i, j in pairs:  # greedy on overlap
            if score < IOU_SAME:
                break
            if i not in taken_t and j not in taken_f:
                taken_t.add(i)
                taken_f.add(j)
                self._extend(self.open[i], t, rgb, faces[j])
        for j, f in enumerate(faces):  # close but not overlapping: the embedding decides
            if j in taken_f:
                continue
            near = [i for i, tr in enumerate(self.open) if i not in taken_t and _near(tr.box, f.box)]
            if near:
                chip = self.engine.chip(rgb, f)
                v = self.engine.embed_chips([chip])[0]
                dists = [(float(np.linalg.norm(self._ref(self.open[i]) - v)), i) for i in near]
                d, i = min(dists)
                if d < SAME_FACE:
                    taken_t.add(i)
                    taken_f.add(j)
                    self._extend(self.open[i], t, rgb, f, chip)
                    continue
            tr = _Open(start=t, end=t, box=f.box)
            self._extend(tr, t, rgb, f)
            self.open.append(tr)
            taken_t.add(len(self.open) - 1)
        return done

    def flush(self) -> list[FaceTrack]:
        """Close every open track (end of file)."""
        done = [self._finish(tr) for tr in self.open]
        self.open = []
        return done

    def _extend(self, tr: _Open, t: float, rgb: np.ndarray, f: Face, chip: np.ndarray | None = None) -> None:
        tr.end, tr.box = t, f.box
        tr.frames += 1
        tr.boxes.append((t, f.box))
        if len(tr.boxes) > MAX_BOXES:
            tr.boxes = tr.boxes[::2]
        q = f.quality
        if len(tr.best) < self.k or q > tr.best[-1].quality:
            tr.best.append(_Best(q, t, f, chip if chip is not None else self.engine.chip(rgb, f)))
            tr.best.sort(key=lambda b: b.quality, reverse=True)
            if tr.best[0].t == t:
                tr.ref = None  # a better face: the reference follows it
            del tr.best[self.k:]

    def _ref(self, tr: _Open) -> np.ndarray:
        if tr.ref is None:
            tr.ref = self.engine.embed_chips([tr.best[0].chip])[0]
        return tr.ref

    def _finish(self, tr: _Open) -> FaceTrack:
        vecs = self.engine.embed_chips([b.chip for b in tr.best])
        vector = unit(np.mean([unit(v) for v in vecs], axis=0))
        top = tr.best[0]
        buf = io.BytesIO()
        Image.fromarray(top.chip).resize((self.crop_size, self.crop_size), Image.BILINEAR).save(
            buf, format="JPEG", quality=80)
        return FaceTrack(start=tr.start, end=tr.end, frames=tr.frames, box=top.face.box, best_t=top.t,
                         quality=top.quality, vector=vector, crop=buf.getvalue(), boxes=tuple(tr.boxes))
