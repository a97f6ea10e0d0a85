"""Test media with known start timecodes (made by ffmpeg) and a small independent EDL reader.

Both are written here without the product's code: the timecode arithmetic and the EDL parser
check reelcore.export from the outside.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

SECONDS = 2  # every test file is this long


@dataclass(frozen=True)
class Media:
    filename: str
    rate: Fraction
    timecode: str | None  # what ffmpeg is told (None: no timecode)
    drop: bool = False
    reel: str | None = None
    container: str = "mov"


MEDIA = [
    Media("pal 25 fps.mov", Fraction(25), "01:00:00:00", reel="A001C003"),
    Media("film 23.976.mov", Fraction(24000, 1001), "01:00:00:00"),
    Media("Ärger ntsc 29.97 DF.mp4", Fraction(30000, 1001), "01:00:00;00", drop=True),
    Media("high 59.94 DF.mov", Fraction(60000, 1001), "00:59:59;58", drop=True),
    Media("no timecode.mp4", Fraction(25), None),
]


def make_media(folder: Path, m: Media) -> Path:
    path = folder / m.filename
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
           "-i", f"testsrc=size=64x48:rate={m.rate.numerator}/{m.rate.denominator}:duration={SECONDS}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "12"]
    if m.timecode:
        cmd += ["-timecode", m.timecode]
    if m.reel:
        cmd += ["-metadata:s:v:0", f"reel_name={m.reel}"]
    subprocess.run([*cmd, str(path)], check=True, timeout=60)
    return path


def total_frames(m: Media) -> int:
    """Frames ffmpeg's testsrc makes in SECONDS (a started frame counts)."""
    return math.ceil(SECONDS * m.rate)


def tc_frames(tc: str, rate: Fraction) -> int:
    """SMPTE 12M timecode -> frame count (drop-frame when the separator is ';')."""
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", tc))
    fps = round(rate)
    n = ((hh * 60 + mm) * 60 + ss) * fps + ff
    if ";" in tc:
        d = 2 if fps == 30 else 4
        total_minutes = hh * 60 + mm
        n -= d * (total_minutes - total_minutes // 10)
    return n


def expected_frames(m: Media, start: float, end: float) -> tuple[int, int]:
    """(source in, source out) as absolute frame counts: the file's timecode + the moment, the in
    point on the frame shown at `start`, the out point after `end`, never past the last frame."""
    first = tc_frames(m.timecode, m.rate) if m.timecode else 0
    total = total_frames(m)
    a = math.floor(Fraction(start) * m.rate + Fraction(1, 10**6))
    b = min(math.ceil(Fraction(end) * m.rate - Fraction(1, 10**6)), total)
    return first + a, first + int(b)


@dataclass
class EdlEvent:
    number: int
    reel: str
    src_in: str
    src_out: str
    rec_in: str
    rec_out: str
    comments: list[str] = field(default_factory=list)


@dataclass
class Edl:
    title: str
    fcm: str
    events: list[EdlEvent]


_EVENT = re.compile(r"^(\d{3,})\s+(\S+)\s+V\s+C\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")


def parse_edl(text: str) -> Edl:
    """A strict reader of the CMX 3600 subset reelfind writes: TITLE, FCM, cut events, comments."""
    lines = text.splitlines()
    assert lines[0].startswith("TITLE: "), lines[0]
    assert lines[1] in ("FCM: DROP FRAME", "FCM: NON-DROP FRAME"), lines[1]
    events: list[EdlEvent] = []
    for line in lines[2:]:
        if not line.strip():
            continue
        m = _EVENT.match(line)
        if m:
            events.append(EdlEvent(int(m[1]), m[2], m[3], m[4], m[5], m[6]))
            continue
        assert events and (line.startswith("* ") or line.startswith(" |")), f"stray EDL line: {line!r}"
        events[-1].comments.append(line)
    return Edl(lines[0][7:], lines[1][5:], events)
