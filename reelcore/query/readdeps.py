"""What each read-side view needs from the search service, as narrow protocols.

`SearchService` (search.py) satisfies all of them; frames/scenes/timeline/overview/status take
only the protocol they use, so none of them imports search.py (not even for type hints): the
service calls into the views, never the other way round through its class. Each protocol names
the few attributes and methods its view reads, which is also a list of what a test double needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # types only; none of these modules imports search.py either
    import numpy as np

    from ..channels.visual.embedder import Embedder
    from ..config import Settings
    from ..storage.catalog import Catalog, FileRecord
    from ..storage.shared import StoreDirectory
    from ..storage.store import FrameRecord, FrameStore, Thumbnails
    from .scoring import Background


class FrameSource(Protocol):
    """A video's frames and vectors (frames.py)."""

    settings: Settings
    store: FrameStore

    def video_frames(self, rec: FileRecord) -> tuple[list[FrameRecord], np.ndarray]: ...

    def frame_spans(self, rec: FileRecord, t0: float | None = None,
                    t1: float | None = None) -> list[FrameRecord]: ...


class QueryScorer(FrameSource, Protocol):
    """Query vectors judged against the index's background, over catalogued videos (scenes, timeline)."""

    catalog: Catalog
    thumbs: Thumbnails
    directory: StoreDirectory | None

    def check_limit(self, limit: int) -> int: ...

    def check_query(self, query: str) -> str: ...

    def query_vector(self, query: str, exclude: str | None = None) -> np.ndarray: ...

    def background(self, vector: np.ndarray) -> Background: ...

    def video_ids_matching(self, path_glob: str | None) -> list[str] | None: ...

    def resolve_video(self, video: str) -> FileRecord: ...

    def check_time(self, rec: FileRecord, t: float, frames: list[FrameRecord]) -> float: ...


class VideoLister(Protocol):
    """The catalog (and other machines' videos in a shared store) for list_videos (overview.py)."""

    settings: Settings
    catalog: Catalog
    directory: StoreDirectory | None

    def check_limit(self, limit: int) -> int: ...


class StatusSource(Protocol):
    """What index_status reads (status.py)."""

    settings: Settings
    catalog: Catalog
    store: FrameStore
    embedder: Embedder
