"""A PNG timeline strip: one column per slice of the video, dark purple (low) to yellow (high).

Built with PIL alone (no matplotlib): a viridis-like colormap interpolated from a few anchors, a
strip of the per-frame values, white markers above the peaks, and a time axis with labels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Viridis anchors (0 = low, 1 = high): dark purple -> blue -> green -> yellow.
_ANCHORS = np.array([
    (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
    (31, 158, 137), (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37),
], dtype=np.float64)

_MARK_H = 7  # peak marker band above the strip
_AXIS_H = 16  # time axis band below the strip


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) -> (N, 3) uint8 RGB."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    pos = v * (len(_ANCHORS) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(_ANCHORS) - 1)
    frac = (pos - lo)[:, None]
    return np.round(_ANCHORS[lo] * (1 - frac) + _ANCHORS[hi] * frac).astype(np.uint8)


def _clock(t: float) -> str:
    t = int(round(t))
    h, rest = divmod(t, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _tick_step(duration: float, width: int) -> float:
    """A round tick interval giving roughly one label per 90 px."""
    want = duration / max(1, width // 90)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if step >= want:
            return float(step)
    return 3600.0 * max(1, round(want / 3600))


def render_strip(t_start: Sequence[float], t_end: Sequence[float], values: Sequence[float],
                 duration: float, peaks: Sequence[float] = (), width: int = 800, height: int = 40) -> bytes:
    """PNG bytes: `values` in [0, 1] per frame span [t_start, t_end), over 0..duration seconds."""
    ts, te = np.asarray(t_start, float), np.asarray(t_end, float)
    vals = np.asarray(values, float)
    duration = max(float(duration), float(te.max()) if te.size else 0.0, 1e-6)
    # Column x shows the frame covering the column's centre time (background colour where none does).
    centres = (np.arange(width) + 0.5) * duration / width
    idx = np.clip(np.searchsorted(ts, centres, side="right") - 1, 0, max(0, ts.size - 1))
    covered = (ts.size > 0) & (centres >= ts[idx]) & (centres < te[idx]) if ts.size else np.zeros(width, bool)
    col_vals = np.where(covered, vals[idx] if vals.size else 0.0, 0.0)
    rgb = colormap(col_vals)
    rgb[~covered] = (40, 40, 40)

    img = Image.new("RGB", (width, _MARK_H + height + _AXIS_H), (20, 20, 20))
    img.paste(Image.fromarray(np.repeat(rgb[None, :, :], height, axis=0)), (0, _MARK_H))
    draw = ImageDraw.Draw(img)
    for t in peaks:  # downward triangles above the strip
        x = min(width - 1, max(0, int(t / duration * width)))
        draw.polygon([(x - 4, 0), (x + 4, 0), (x, _MARK_H - 1)], fill=(255, 255, 255))
    font = ImageFont.load_default()
    y0 = _MARK_H + height
    step = _tick_step(duration, width)
    t = 0.0
    while t <= duration + 1e-9:
        x = min(width - 1, int(t / duration * width))
        draw.line([(x, y0), (x, y0 + 3)], fill=(200, 200, 200))
        label = _clock(t)
        tw = draw.textlength(label, font=font)
        draw.text((min(max(0, x - tw / 2), width - tw), y0 + 4), label, fill=(200, 200, 200), font=font)
        t += step
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
