"""Pure score arithmetic: a query's background over the index, match labels, scenes, peaks, binning.

Cosine scores of one model are only comparable with other scores *of the same query*: CLIP text
queries sit in a narrow band (the "modality gap") whose level differs per query. So every verdict
here is relative to the query's background: its scores against a random sample of indexed
frames, summarised robustly (median and MAD, so a concept that fills part of the footage does not
inflate the spread). A score's `z` is how many background standard deviations it sits above the
median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..models import BackgroundOut

# A frame must beat the background by this many sigmas to count as a (weak) match at all.
WEAK_Z = 2.0
# ...and by at least this much, or by the expected maximum of pure noise over the index if that is
# higher, to count as a good match (the best of N noise scores drifts up like sqrt(2 ln N)).
GOOD_Z = 3.0
# Spread floor in cosine units: a background that is (nearly) constant must not yield huge z.
MIN_SIGMA = 0.01

Match = Literal["good", "weak", "none"]


@dataclass(frozen=True)
class Background:
    """Robust summary of one query's scores against a sample of indexed frames."""

    median: float
    sigma: float
    sample_size: int
    index_size: int

    def z(self, score: float | np.ndarray) -> float | np.ndarray:
        return (score - self.median) / self.sigma

    @property
    def good_z(self) -> float:
        """z a best score must reach to be a good match over an index of `index_size` frames."""
        n = max(2, self.index_size)
        return max(GOOD_Z, math.sqrt(2.0 * math.log(n)))

    def label(self, best_z: float | None) -> Match:
        if best_z is None or best_z < WEAK_Z:
            return "none"
        return "good" if best_z >= self.good_z else "weak"


def background_of(scores: np.ndarray, index_size: int) -> Background:
    """Median and MAD-based sigma (with a std-based fallback when MAD collapses)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return Background(0.0, 1.0, 0, index_size)
    med = float(np.median(s))
    mad = float(np.median(np.abs(s - med))) * 1.4826
    sigma = max(mad, 0.5 * float(np.std(s)), MIN_SIGMA)
    return Background(med, sigma, int(s.size), index_size)


def verdict(match: Match, best_z: float | None, bg: Background, what: str = "the query") -> str:
    """One sentence an assistant can pass on: how much to trust the results."""
    if best_z is None:
        return f"Nothing indexed matches {what}: the index (or the filtered part of it) is empty."
    if match == "good":
        return f"Good match: the best result is {best_z:.1f} sigma above {what}'s background over the index."
    if match == "weak":
        return (f"Weak match: the best result is only {best_z:.1f} sigma above {what}'s background "
                f"(a good match needs {bg.good_z:.1f}); treat these as candidates and check the thumbnails.")
    return (f"No good match: the best result is {best_z:.1f} sigma above {what}'s background, which is "
            "what unrelated footage scores. These are the closest frames, not findings; it is probably "
            "not in the indexed footage (or try other words).")


# -- scenes -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """Frames first..last (inclusive indices into a video's time-sorted frames) and its time span."""

    first: int
    last: int
    start: float
    end: float
    snapped: bool = False


def find_runs(t_start: np.ndarray, t_end: np.ndarray, ok: np.ndarray, gap: float) -> list[Run]:
    """Maximal runs of passing frames; runs separated by at most `gap` seconds are joined."""
    runs: list[Run] = []
    for i in np.flatnonzero(ok):
        i = int(i)
        if runs and t_start[i] - runs[-1].end <= gap + 1e-9:
            runs[-1] = Run(runs[-1].first, i, runs[-1].start, float(t_end[i]))
        else:
            runs.append(Run(i, i, float(t_start[i]), float(t_end[i])))
    return runs


def snap_to_shots(run: Run, shots: np.ndarray, ok: np.ndarray, t_start: np.ndarray,
                  t_end: np.ndarray) -> Run:
    """Widen a run to the bounds of the shots it starts and ends in, where most of the shot passes.

    Only when the video has detected cuts (more than one shot): a single "shot" is the whole video,
    and widening to it would turn any match into the full clip. Runs are never trimmed.
    """
    if shots.size == 0 or int(shots.max()) == int(shots.min()):
        return run
    start, end, snapped = run.start, run.end, False
    for shot in {int(shots[run.first]), int(shots[run.last])}:
        members = np.flatnonzero(shots == shot)
        if members.size and ok[members].mean() >= 0.5:
            s0, s1 = float(t_start[members[0]]), float(t_end[members[-1]])
            if s0 < start or s1 > end:
                snapped = True
            start, end = min(start, s0), max(end, s1)
    return Run(run.first, run.last, start, end, snapped)


# -- timelines --------------------------------------------------------------------------------------

def find_peaks(times: np.ndarray, scores: np.ndarray, k: int, min_separation: float) -> list[int]:
    """Indices of up to k local maxima, strongest first, at least `min_separation` seconds apart."""
    n = len(scores)
    if n == 0 or k <= 0:
        return []
    picked: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        i = int(i)
        # A peak is at least as high as its neighbours and higher than one of them (a flat stretch
        # of background is no peak; the edge of a high plateau is).
        around = [scores[j] for j in (i - 1, i + 1) if 0 <= j < n]
        if any(scores[i] < v for v in around) or (around and all(scores[i] == v for v in around)):
            continue
        if all(abs(times[i] - times[j]) >= min_separation for j in picked):
            picked.append(i)
            if len(picked) == k:
                break
    return picked


def bin_timeline(t_start: np.ndarray, t_end: np.ndarray, scores: np.ndarray,
                 max_points: int) -> list[tuple[float, float, float]]:
    """(start, end, score) per frame, or per equal-width bin (its best frame) if there are more."""
    n = len(scores)
    if n <= max_points:
        return [(float(t_start[i]), float(t_end[i]), float(scores[i])) for i in range(n)]
    t0, t1 = float(t_start[0]), float(t_end[-1])
    width = (t1 - t0) / max_points
    # Each frame goes to the bin holding its start; empty bins (long static frames) are skipped.
    bins = np.minimum(((t_start - t0) / width).astype(int), max_points - 1)
    out = []
    for b in np.unique(bins):
        idx = np.flatnonzero(bins == b)
        out.append((t0 + b * width, t0 + (b + 1) * width, float(scores[idx].max())))
    return out


def frame_at(t_start: np.ndarray, t_end: np.ndarray, t: float) -> int:
    """Index of the frame covering time t (the nearest one if t falls outside all spans)."""
    i = int(np.searchsorted(t_start, t, side="right")) - 1
    if 0 <= i < len(t_start) and t < t_end[i]:
        return i
    centres = (t_start + t_end) / 2
    return int(np.argmin(np.abs(centres - t)))


def background_out(bg: Background) -> BackgroundOut:
    """The background as the tools report it (search, scenes, timeline)."""
    return BackgroundOut(median=round(bg.median, 4), sigma=round(bg.sigma, 4), sample_size=bg.sample_size,
                         good_z=round(bg.good_z, 2))
