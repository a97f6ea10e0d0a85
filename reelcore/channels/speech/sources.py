"""Speech from subtitles: sidecar files beside the video and text subtitle streams in it.

Sidecars: `clip.srt`, `clip.vtt` and `clip.<lang>.srt` / `clip.<lang>.vtt` next to `clip.mp4`
(the language tag, if any, is the records' language), parsed by `srt` and `webvtt-py`. Streams:
mov_text, subrip, ass/ssa, webvtt and text subtitle streams decoded by PyAV (FFmpeg turns each
event into ASS dialogue; override tags like `{\\i1}` are stripped). Image subtitles (PGS,
DVB) carry no text and are not read.
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path

from ..base import ChannelError, Segment

log = logging.getLogger(__name__)

SIDECAR_EXTS = (".srt", ".vtt")
TEXT_CODECS = {"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"}
MAX_SIDECAR_BYTES = 20 * 1024 * 1024  # a subtitle file bigger than this is not one
_LANG = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")
_TAGS = re.compile(r"<[^>]{0,200}>|\{\\[^}]{0,200}\}")


def clean(text: str) -> str:
    """Subtitle markup (HTML-like tags, ASS override blocks, \\N line breaks) out; whitespace folded."""
    text = text.replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return " ".join(_TAGS.sub("", text).split())


def sidecars(video: str) -> list[tuple[Path, str | None]]:
    """Sidecar subtitle files of a video with the language their name gives (None: not named)."""
    p = Path(video)
    stem = p.stem
    try:
        names = os.listdir(p.parent)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        low = name.lower()
        if not low.endswith(SIDECAR_EXTS) or not name.startswith(stem + "."):
            continue
        middle = name[len(stem) + 1: -4]
        if middle and not _LANG.match(middle):
            continue  # clip.director-notes.srt is not this clip's subtitle
        q = p.parent / name
        if q.is_file() and not q.is_symlink():
            found.append((q, middle.lower() or None))
    return found


def sidecar_signature(video: str) -> str:
    """What the sidecars look like now (names, sizes, mtimes): a change re-runs the speech pass."""
    parts = []
    for q, _ in sidecars(video):
        try:
            st = q.stat()
        except OSError:
            continue
        parts.append(f"{q.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def read_sidecar(path: Path, language: str | None, max_chars: int) -> list[Segment]:
    """Cues of one .srt or .vtt file; ChannelError if it cannot be parsed."""
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ChannelError(f"{path.name} is larger than {MAX_SIDECAR_BYTES >> 20} MB: not a subtitle file")
        raw = path.read_bytes()
    except OSError as e:
        raise ChannelError(f"cannot read {path.name}: {e}") from e
    text = raw.decode("utf-8-sig", errors="replace")
    source = f"sidecar:{path.name}"
    out: list[Segment] = []
    try:
        if path.suffix.lower() == ".srt":
            import srt

            for cue in srt.parse(text, ignore_errors=True):
                _add(out, cue.start.total_seconds(), cue.end.total_seconds(), cue.content, language, source)
        else:
            import webvtt

            for cue in webvtt.from_buffer(io.StringIO(text)):
                _add(out, cue.start_in_seconds + cue.start_time.milliseconds / 1000,
                     cue.end_in_seconds + cue.end_time.milliseconds / 1000, cue.text, language, source)
    except Exception as e:  # the parsers raise their own kinds for malformed files
        raise ChannelError(f"cannot parse {path.name}: {type(e).__name__}: {e}") from e
    return _bounded(out, max_chars, path.name)


def _add(out: list[Segment], start: float, end: float, text: str, language: str | None, source: str) -> None:
    text = clean(text)
    if text and end >= start >= 0:
        out.append(Segment(round(start, 3), round(end, 3), text, language, source))


def _bounded(segs: list[Segment], max_chars: int, what: str) -> list[Segment]:
    segs.sort(key=lambda s: (s.start, s.end))
    total = 0
    for i, s in enumerate(segs):
        total += len(s.text)
        if total > max_chars:
            log.warning("%s: transcript longer than %d characters; the rest is ignored", what, max_chars)
            return segs[:i]
    return segs


def stream_language(stream) -> str | None:
    lang = (getattr(stream, "language", None) or stream.metadata.get("language") or "").lower()
    return None if lang in ("", "und", "unk") else lang


def read_streams(path: str, max_chars: int) -> tuple[list[Segment], bool]:
    """Cues of the text subtitle streams of a video, and whether it has an audio stream."""
    import av

    try:
        container = av.open(path)
    except Exception as e:
        raise ChannelError(f"cannot open {Path(path).name}: {e}") from e
    out: list[Segment] = []
    try:
        has_audio = bool(container.streams.audio)
        # Times as a player shows them: pts minus the container's start time (as reelcore.media.decode does).
        origin = container.start_time / 1e6 if container.start_time is not None else 0.0
        for stream in container.streams.subtitles:
            codec = stream.codec_context.name if stream.codec_context else ""
            if codec not in TEXT_CODECS:
                continue
            lang, source, tb = stream_language(stream), f"stream:{stream.index}:{codec}", stream.time_base
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                start = max(0.0, float(packet.pts * tb) - origin)
                end = start + float((packet.duration or 0) * tb)
                try:
                    subs = packet.decode()
                except Exception as e:  # one bad event is skipped, not the stream
                    log.debug("%s: subtitle packet at %.2f s: %s", path, start, e)
                    continue
                for sub in subs:
                    text = getattr(sub, "dialogue", None)
                    if text is None:
                        text = getattr(sub, "text", b"")
                    if isinstance(text, bytes):
                        text = text.decode("utf-8", errors="replace")
                    _add(out, start, max(end, start), text or "", lang, source)
            container.seek(0)
    except ChannelError:
        raise
    except Exception as e:
        raise ChannelError(f"cannot read the subtitle streams of {Path(path).name}: {type(e).__name__}: {e}") from e
    finally:
        container.close()
    return _bounded(out, max_chars, Path(path).name), has_audio
