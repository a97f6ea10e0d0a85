"""CMX 3600 EDL, written here rather than by `otio-cmx3600-adapter` (1.0.0), which gets our
case wrong: it writes no `FCM:` line, takes drop-frame from the rate instead of from the file
(every 29.97 file would come out drop-frame), writes every source timecode at the first track's
rate (mixed-rate selects get wrong source timecodes), upper-cases marker names and has no way to
write a marker's comment. What this writer produces is still plain CMX 3600 that the adapter (and
tests) read back.

Per event:

    001  A001C003 V     C        01:00:00:12 01:00:01:05 01:00:00:00 01:00:00:18
    * FROM CLIP NAME:  clip.mov
    * SOURCE FILE: /footage/clip.mov
    * LOC: 01:00:00:12 GREEN   a red car
    * COMMENT: seen; score 0.312 (z 3.2)
     |C:ResolveColorGreen |M:a red car |D:18

Source timecodes are in the file's own rate and drop-frame mode, record timecodes in the
timeline's. `* LOC:` (source timecode, the adapter's reading) is the Avid-style locator; the
` |C: |M: |D:` line is DaVinci Resolve's own marker notation (what "Timeline Markers to EDL"
writes and "Timeline Markers from EDL" reads), placed at the event's record in point.
"""

from __future__ import annotations

import re
from fractions import Fraction

import opentimelineio as otio

from .timecode import frames_to_timecode

REEL_LEN = 8
_REEL_OK = re.compile(r"[^A-Za-z0-9_]")


def _line_text(s: str, limit: int = 200) -> str:
    """One EDL comment line: no line breaks, no '|' (Resolve's field separator)."""
    return " ".join(s.replace("|", "/").split())[:limit]


def reel_name(reel: str | None) -> str:
    """CMX reels are 8 characters of A-Z, 0-9 and _; `AX` stands for 'no reel' (file-based media)."""
    if not reel:
        return "AX"
    cleaned = _REEL_OK.sub("_", reel)[:REEL_LEN]
    return cleaned or "AX"


def write_edl(tl: otio.schema.Timeline) -> str:
    meta = tl.metadata.get("reelfind", {})
    num, den = meta.get("rate", [25, 1])
    rate = Fraction(num, den)
    drop = bool(meta.get("drop_frame"))
    files = meta.get("files", {})
    lines = [f"TITLE: {_line_text(tl.name or 'reelfind', 70)}",
             f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]
    for k, clip in enumerate(tl.video_tracks()[0].find_clips() if tl.tracks else [], 1):
        info = clip.metadata["reelfind"]
        f = files.get(info["path"], {})
        src_rate = Fraction(*f.get("rate", [num, den]))
        src_drop = bool(f.get("drop_frame"))
        sr = clip.source_range
        src_in = round(sr.start_time.value)
        src_out = src_in + round(sr.duration.value)
        rec_in, rec_out = info["record_in"], info["record_out"]
        lines.append(f"{k:03d}  {reel_name(f.get('reel')):8} V     C        "
                     f"{frames_to_timecode(src_in, src_rate, src_drop)} "
                     f"{frames_to_timecode(src_out, src_rate, src_drop)} "
                     f"{frames_to_timecode(rec_in, rate, drop)} "
                     f"{frames_to_timecode(rec_out, rate, drop)}")
        lines.append(f"* FROM CLIP NAME:  {_line_text(clip.name)}")
        lines.append(f"* SOURCE FILE: {_line_text(info['path'], 1000)}")
        for m in clip.markers:
            at = frames_to_timecode(round(m.marked_range.start_time.value), src_rate, src_drop)
            lines.append(f"* LOC: {at} {m.color or 'GREEN':7} {_line_text(m.name)}")
            if m.comment:
                lines.append(f"* COMMENT: {_line_text(m.comment)}")
            colour = (m.color or "GREEN").capitalize()
            lines.append(f" |C:ResolveColor{colour} |M:{_line_text(m.name)} |D:{rec_out - rec_in}")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines[-1] else "")
