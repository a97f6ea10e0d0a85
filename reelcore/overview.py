"""What is indexed: the video list and the index status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog import FAILED, STATES, FileRecord
from .inputs import QueryError, file_uri, glob_match
from .models import FailedOut, StatusOut, VideoListOut, VideoOut

if TYPE_CHECKING:
    from .search import SearchService

MAX_FAILED = 50


def video_out(r: FileRecord) -> VideoOut:
    return VideoOut(video_id=r.video_id, path=r.path, name=r.path.rsplit("/", 1)[-1], state=r.state,
                    duration=None if r.duration is None else round(r.duration, 3), frames=r.frames,
                    error=r.error, note=r.note, unavailable=bool(r.unavailable), uri=file_uri(r.path))


def list_videos(svc: SearchService, path_glob: str | None, state: str | None, limit: int,
                offset: int) -> VideoListOut:
    if state is not None and state not in STATES:
        raise QueryError(f"state must be one of {', '.join(STATES)} (got {state!r})")
    if offset < 0:
        raise QueryError("offset must be 0 or more")
    limit = svc.check_limit(limit)
    recs = svc.catalog.all(state)
    if path_glob:
        recs = [r for r in recs if glob_match(r.path, path_glob)]
    page = recs[offset: offset + limit]
    return VideoListOut(total=len(recs), offset=offset, limit=limit, videos=[video_out(r) for r in page])


def index_status(svc: SearchService, current: dict[str, Any] | None) -> StatusOut:
    s = svc.settings
    failed = [FailedOut(path=r.path, reason=r.error, attempts=r.attempts)
              for r in svc.catalog.all(FAILED, limit=MAX_FAILED)]
    return StatusOut(
        model_identity=svc.embedder.identity, model_loaded=svc.embedder.loaded, device=svc.embedder.device,
        vectors=svc.store.count(), counts=svc.catalog.counts(), current=current, failed=failed,
        roots=[str(r.path) for r in s.roots], store=s.store.url or str(s.chroma_dir),
    )
