"""Export moments to editing applications (Premiere, Resolve, Final Cut, Avid via CSV).

    moments (moments.py: from a search, scenes, timeline peaks or a hand-picked selection)
      -> each file's own timing (timecode.py: start timecode, rate, drop-frame, reel)
      -> one OpenTimelineIO timeline (timeline.py: a subclip and a marker per moment)
      -> a format (formats.py: EDL, FCP7 XML, FCPXML, OTIO, CSV)

`export_moments` is the one entry point the CLI, the MCP tool and the viewer's route use. It
reads the files' headers (PyAV), so call it off the event loop.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .formats import FORMATS, Format, FormatError, get_format
from .moments import (
    MAX_EXPORT_MOMENTS,
    ExportInputError,
    ExportMoment,
    from_scenes,
    from_search,
    from_selection,
    from_timeline,
)
from .timecode import DEFAULT_RATE, SourceTiming, probe_timing

log = logging.getLogger(__name__)
UNREADABLE_FRAMES = 10**9  # a file whose header cannot be read: its moments are not clamped


@dataclass
class ExportFile:
    format: Format
    filename: str  # a suggested file name (no folders)
    text: str
    moments: int
    message: str
    notes: list[str] = field(default_factory=list)


def _timing_or_default(probe: Callable[[str], SourceTiming], notes: list[str]) -> Callable[[str], SourceTiming]:
    def timing(path: str) -> SourceTiming:
        try:
            t = probe(path)
        except Exception as e:  # noqa: BLE001 - offline share, vanished or damaged file: export it anyway
            log.warning("could not read the timing of %s: %s", path, e)
            notes.append(f"{path}: timing not readable ({e}); exported at 00:00:00:00, "
                         f"{float(DEFAULT_RATE):g} fps")
            return SourceTiming(rate=DEFAULT_RATE, drop_frame=False, start_timecode="00:00:00:00", start_frame=0,
                                frames=UNREADABLE_FRAMES, note="timing not readable")
        if t.note:
            notes.append(f"{path}: {t.note}")
        return t

    return timing


def save(export: ExportFile, dest: Path) -> None:
    """Write the export to `dest` whole or not at all (a temporary file beside it, then a rename)."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(export.text)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def safe_filename(title: str, fmt: Format) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip().replace(" ", "_")[:60] or "moments"
    return f"reelfind_{stem}{fmt.extension}"


def export_moments(moments: Sequence[ExportMoment], fmt: Format | str, title: str, *,
                   empty_reason: str | None = None,
                   probe: Callable[[str], SourceTiming] = probe_timing) -> ExportFile:
    """Render `moments` as `fmt`. No moments still gives a valid (empty) file, and says so."""
    from .timeline import build_timeline  # opentimelineio is imported only by an export

    f = fmt if isinstance(fmt, Format) else get_format(fmt)
    if len(moments) > MAX_EXPORT_MOMENTS:
        raise ExportInputError(f"at most {MAX_EXPORT_MOMENTS} moments per export (got {len(moments)})")
    notes: list[str] = []
    tl = build_timeline(moments, _timing_or_default(probe, notes), title or "reelfind")
    text = f.write(tl)
    if moments:
        rate = Fraction(*tl.metadata["reelfind"]["rate"])
        message = (f"{len(moments)} moment(s) from {len({m.path for m in moments})} file(s) as {f.title}; "
                   f"sequence at {float(rate):.3f} fps from 01:00:00:00")
    else:
        message = f"no moments to export ({empty_reason or 'the result is empty'}): wrote an empty {f.title} file"
    if notes:
        message += "; " + "; ".join(notes)
    return ExportFile(format=f, filename=safe_filename(title, f), text=text, moments=len(moments),
                      message=message, notes=notes)


__all__ = ["FORMATS", "MAX_EXPORT_MOMENTS", "ExportFile", "ExportInputError", "ExportMoment", "Format",
           "FormatError", "export_moments", "from_scenes", "from_search", "from_selection", "from_timeline",
           "get_format", "probe_timing", "save"]
