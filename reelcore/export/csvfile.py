"""CSV of the moments: one row per moment, for a spreadsheet or a converter to Avid's marker
list. Written here: OpenTimelineIO has no CSV adapter."""

from __future__ import annotations

import csv
import io
from fractions import Fraction

import opentimelineio as otio

from .timecode import frames_to_timecode

COLUMNS = ("index", "name", "file", "path", "reel", "fps", "drop_frame", "source_in", "source_out",
           "record_in", "record_out", "start_seconds", "end_seconds", "peak_seconds", "duration_frames",
           "score", "z", "channels", "quote", "comment")


def write_csv(tl: otio.schema.Timeline) -> str:
    """Rows in timeline order; timecodes as the editing application shows them."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; spreadsheets open it as-is
    w.writerow(COLUMNS)
    meta = tl.metadata.get("reelfind", {})
    files = meta.get("files", {})
    rate, drop = Fraction(*meta.get("rate", [25, 1])), bool(meta.get("drop_frame"))
    tracks = tl.video_tracks()
    for clip in tracks[0].find_clips() if tracks else []:
        info = clip.metadata["reelfind"]
        f = files.get(info["path"], {})
        rin, rout = (frames_to_timecode(info[k], rate, drop) for k in ("record_in", "record_out"))
        num, den = f.get("rate", [25, 1])
        w.writerow([info["index"], info["label"], clip.name, info["path"], f.get("reel") or "",
                    f"{num / den:.3f}", "yes" if f.get("drop_frame") else "no", info["source_in"],
                    info["source_out"], rin, rout, _n(info["start"]), _n(info["end"]), _n(info["peak"]),
                    info["out_frame"] - info["in_frame"], _n(info["score"]), _n(info["z"]),
                    " ".join(info["channels"]), _safe(info["quote"] or ""), _safe(info["comment"])])
    return buf.getvalue()


def _n(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}".rstrip("0").rstrip(".")


def _safe(s: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s
