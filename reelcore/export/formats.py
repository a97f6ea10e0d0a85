"""The export formats: which writer, file extension and MIME type each has.

OpenTimelineIO's own JSON (`.otio`) is written by the library itself; FCP7 XML goes through
`otio-fcp-adapter` with corrections (fcp7.py); CMX 3600 EDL, FCPXML and CSV are written here
(edl.py, fcpxml.py, csvfile.py say why the adapters do not do for them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from reelcore.inputs import QueryError

from .csvfile import write_csv
from .edl import write_edl
from .fcp7 import write_fcp7
from .fcpxml import write_fcpxml


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    mime: str
    title: str  # what the viewer's menu and --help call it
    write: Callable[[otio.schema.Timeline], str]


def _otio(tl: otio.schema.Timeline) -> str:
    return otio.adapters.write_to_string(tl, "otio_json") + "\n"


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("edl", ".edl", "text/plain", "CMX 3600 EDL with markers (Resolve, Avid, Premiere)", write_edl),
    Format("fcp7", ".xml", "application/xml", "FCP7 XML (Premiere Pro, Resolve)", write_fcp7),
    Format("fcpxml", ".fcpxml", "application/xml", "FCPXML 1.9 (Final Cut Pro)", write_fcpxml),
    Format("otio", ".otio", "application/json", "OpenTimelineIO (Resolve, Kdenlive, Hiero)", _otio),
    Format("csv", ".csv", "text/csv", "CSV (spreadsheets, Avid marker lists via a converter)", write_csv),
)}
_BY_EXT = {".edl": "edl", ".xml": "fcp7", ".fcpxml": "fcpxml", ".otio": "otio", ".csv": "csv"}


class FormatError(QueryError):
    """An unknown format name or file extension."""


def get_format(name: str | None = None, filename: str | Path | None = None) -> Format:
    """The format named `name`, else the one `filename`'s extension stands for."""
    if name:
        key = name.strip().lower()
        if key not in FORMATS:
            raise FormatError(f"unknown export format {name!r}; one of: {', '.join(FORMATS)}")
        return FORMATS[key]
    ext = Path(str(filename or "")).suffix.lower()
    if ext not in _BY_EXT:
        raise FormatError(f"cannot tell the export format from {str(filename)!r}: use a name ending in "
                          f"{', '.join(_BY_EXT)} or give the format ({', '.join(FORMATS)})")
    return FORMATS[_BY_EXT[ext]]
