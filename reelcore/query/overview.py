"""What is indexed: the video list (the index status is reelcore/status.py)."""

from __future__ import annotations

import heapq
from itertools import islice
from typing import TYPE_CHECKING

from ..inputs import MAX_OFFSET, QueryError, check_range, file_uri, glob_match
from ..models import VideoListOut, VideoOut
from ..storage.catalog import INDEXED, STATES, FileRecord

if TYPE_CHECKING:
    from .readdeps import VideoLister


def video_out(r: FileRecord) -> VideoOut:
    return VideoOut(video_id=r.video_id, path=r.path, name=r.path.rsplit("/", 1)[-1], state=r.state,
                    duration=None if r.duration is None else round(r.duration, 3), frames=r.frames,
                    error=r.error, note=r.note, unavailable=bool(r.unavailable), uri=file_uri(r.path))


def list_videos(svc: VideoLister, path_glob: str | None, state: str | None, limit: int,
                offset: int) -> VideoListOut:
    """One page of the catalogue by path, filtered and paged in SQL (the page's rows, plus a COUNT).

    With a shared vector store, the videos other machines indexed (known here only from their
    vectors' metadata, so state 'indexed', frames 0 and duration unknown) are merged in by path."""
    if state is not None and state not in STATES:
        raise QueryError(f"state must be one of {', '.join(STATES)} (got {state!r})")
    offset = check_range("offset", offset, 0, MAX_OFFSET)
    limit = svc.check_limit(limit)
    total = svc.catalog.count(path_glob, state)
    if svc.directory is None:
        page = svc.catalog.find(path_glob, state, limit, offset)
        return VideoListOut(total=total, offset=offset, limit=limit, videos=_with_channels(svc, page))
    remote: list[FileRecord] = []
    if state in (None, INDEXED):
        remote = [r for r in svc.directory.remote() if not path_glob or glob_match(r.path, path_glob)]
    # The page of the merged order: at most offset + limit rows from each side.
    local = svc.catalog.find(path_glob, state, offset + limit, 0)
    merged = heapq.merge(local, remote[:offset + limit], key=lambda r: r.path)
    page = list(islice(merged, offset, offset + limit))
    return VideoListOut(total=total + len(remote), offset=offset, limit=limit, videos=_with_channels(svc, page))


def _with_channels(svc: VideoLister, page: list[FileRecord]) -> list[VideoOut]:
    """Video rows with each channel's state (reelcore/channels)."""
    from ..channels.registry import all_channels
    from ..channels.state import file_channel_states

    identities = {c.name: c.identity if c.enabled else None for c in all_channels(svc.settings)}
    local = [r for r in page if r.id]  # another machine's video (shared store): no local states
    states = file_channel_states(svc.catalog, identities, local)
    return [video_out(r).model_copy(update={"channels": states.get(r.video_id)}) for r in page]
