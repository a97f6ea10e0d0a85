"""Answer a question and export its moments in one call: what the CLI, the MCP tool
`export_moments` and the viewer's download route share.

Which question is asked follows from what is given: `selection` (hand-picked moments), `video`
with `query` (that video's timeline peaks), `concepts` (a scene query, all of them at once), or
`query` alone (a search). Bad input raises `reelcore.inputs.QueryError` (its subclasses too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reelcore.inputs import QueryError

from . import ExportFile, export_moments
from .formats import Format
from .moments import from_scenes, from_search, from_selection, from_timeline

if TYPE_CHECKING:
    from reelcore.search import SearchService


def export_answer(svc: SearchService, fmt: Format | str, *, query: str | None = None,
                  concepts: Sequence[str] | None = None, video: str | None = None,
                  selection: Sequence[Mapping[str, Any]] | None = None, limit: int = 10,
                  path_glob: str | None = None, threshold_z: float = 2.5, peaks: int = 5,
                  label: str | None = None) -> ExportFile:
    """Run the question on `svc` and export its moments (see the module docstring)."""
    concepts = [c for c in (concepts or []) if c and c.strip()]
    if selection is not None:
        def lookup(video_id: str) -> Any:
            rec = svc.catalog.get_by_video_id(video_id)
            if rec is None:
                try:
                    rec = svc.resolve_video(video_id)  # a path or unique name is fine too
                except (QueryError, LookupError):
                    return None
            return rec

        title = (label or query or "selection").strip()[:200] or "selection"
        moments = from_selection(selection, lookup, title)
        return export_moments(moments, fmt, title, empty_reason="nothing was selected")
    if video:
        if not query:
            raise QueryError("with video, also give query (what to look for in it)")
        out, _png = svc.timeline(video, query, 300, peaks)
        return export_moments(from_timeline(out), fmt, label or query, empty_reason=out.message)
    if concepts:
        scenes = svc.scenes(([query] if query else []) + concepts, limit, path_glob, threshold_z, 0.0)
        return export_moments(from_scenes(scenes), fmt, label or " + ".join(scenes.concepts),
                              empty_reason=scenes.message)
    if query:
        found = svc.search(query, limit=limit, path_glob=path_glob)
        return export_moments(from_search(found), fmt, label or query, empty_reason=found.message)
    raise QueryError("give a query, all_of concepts, a video with a query, or moments to export")
