"""Untrusted tool inputs: which indexed video is meant, images given as base64, playable URIs.

A video is named by its video_id, its exact catalogued path (or file:// URI), or a file name /
path suffix that matches exactly one catalogued file. Nothing here opens a path the caller gave:
a name only ever selects a catalogue row, so files outside the indexed roots cannot be reached.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import warnings
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from PIL import Image, UnidentifiedImageError

from .storage.catalog import FAILED, Catalog, FileRecord
from .storage.globsql import glob_match
from .storage.shared import RemoteRecord, StoreDirectory

# Bounds of request parameters, checked here once for every face (MCP schemas show the same numbers;
# HTTP and the CLI get the same QueryError). Query length and result limits come from the settings.
TIMELINE_POINTS = (10, 5000)  # points of a score timeline (longer videos are binned)
TIMELINE_PEAKS = (0, 50)
MAX_OFFSET = 10_000_000  # list_videos paging

MAX_IMAGE_BYTES = 16 * 1024 * 1024
MAX_IMAGE_BASE64 = MAX_IMAGE_BYTES * 4 // 3 + 4096  # base64 text, with room for a data: URL prefix
MAX_IMAGE_PIXELS = 40_000_000
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
_VIDEO_ID = re.compile(r"^[0-9a-f]{16}$")


class QueryError(ValueError):
    """Bad tool input; the message is shown to the assistant as is."""


__all__ = ["QueryError", "decode_image", "file_uri", "glob_match", "resolve_video"]


def check_range(name: str, value: object, lo: int, hi: int) -> int:
    """An integer parameter within [lo, hi], or a QueryError that says so."""
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise QueryError(f"{name} must be an integer from {lo} to {hi} (got {value!r})")
    return value


def resolve_video(catalog: Catalog, video: str, need_frames: bool = True,
                  directory: StoreDirectory | None = None) -> FileRecord:
    """The catalogued file meant by `video` (see module docstring); QueryError if none or ambiguous.

    With `directory` (a shared vector store), videos other machines indexed count too, named the
    same ways; a bare name is then looked up among both, so it is ambiguous on every machine alike."""
    name = (video or "").strip()
    if not name:
        raise QueryError("video is empty: give a video_id or a path from list_videos")
    if "\x00" in name or len(name) > 4096:
        raise QueryError("video is not a valid name or path")
    if _VIDEO_ID.match(name):
        rec = catalog.get_by_video_id(name)
        if rec is not None:
            return _check(rec, need_frames)
        remote = directory.by_video_id(name) if directory else None
        if remote is not None:
            return remote
    if name.startswith("file://"):
        name = unquote(urlparse(name).path)
    if ".." in PurePosixPath(name).parts:
        raise QueryError("'..' is not allowed in a video path: give the path exactly as list_videos shows "
                         "it, or its video_id")
    if os.path.isabs(name):
        rec = catalog.get(os.path.normpath(name))
        if rec is None and directory is not None:
            rec = directory.by_path(os.path.normpath(name))
        if rec is None:
            raise QueryError(f"{name} is not an indexed video (only files in the indexed folders can be "
                             "used; see list_videos)")
        return _check(rec, need_frames)
    suffix = "/" + name.lstrip("./")
    matches = catalog.by_suffix(suffix)
    if directory is not None:
        matches = sorted(matches + directory.by_suffix(suffix), key=lambda r: r.path)
    if not matches:
        raise QueryError(f"no indexed video is called {name!r}; call list_videos to see the names")
    if len(matches) > 1:
        shown = ", ".join(r.path for r in matches[:5])
        raise QueryError(f"{name!r} matches {len(matches)} videos ({shown}{', ...' if len(matches) > 5 else ''});"
                         " give the full path or the video_id")
    return _check(matches[0], need_frames)


def _check(rec: FileRecord, need_frames: bool) -> FileRecord:
    if isinstance(rec, RemoteRecord):  # in the store, so it has frames
        return rec
    if need_frames and rec.frames <= 0:
        if rec.state == FAILED:
            raise QueryError(f"{rec.path} could not be indexed: {rec.error or 'unknown reason'}")
        raise QueryError(f"{rec.path} is not indexed yet (state: {rec.state}); try again later")
    return rec


def decode_image(data_b64: str) -> Image.Image:
    """An RGB PIL image from base64 (optionally a data: URL); QueryError for anything else."""
    s = (data_b64 or "").strip()
    if s.startswith("data:"):
        head, _, s = s.partition(",")
        if ";base64" not in head:
            raise QueryError("image data URL must be base64-encoded (data:image/png;base64,...)")
    s = re.sub(r"\s+", "", s)
    if not s:
        raise QueryError("image_base64 is empty")
    if len(s) > MAX_IMAGE_BASE64:
        raise QueryError(f"image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise QueryError("image_base64 is not valid base64") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the documented formats: PIL would otherwise try every plugin it has (EPS hands the
            # data to Ghostscript, others are rarely exercised parsers) on untrusted bytes.
            im = Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS)
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise QueryError(f"image is too large ({im.width}x{im.height} pixels)")
            im.load()
    except QueryError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError):
        raise QueryError("image_base64 does not decode to an image (PNG, JPEG, WebP, GIF or BMP)") from None
    return im.convert("RGB")


def _seconds(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def file_uri(path: str, start: float | None = None, end: float | None = None) -> str:
    """file:///path#t=start,end (a W3C media fragment players and browsers understand)."""
    uri = Path(path).as_uri() if os.path.isabs(path) else "file://" + path
    if start is None:
        return uri
    return f"{uri}#t={_seconds(start)}" + (f",{_seconds(end)}" if end is not None else "")
