"""The speech channel's RecordSink: segments into its Chroma collection and local word index."""

from __future__ import annotations

from typing import Any

from ...config import Settings
from ..base import Analysis, RecordSink, Segment
from .reader import SpeechIndex, forget_indexes, speech_index
from .store import SpeechStore


class SpeechSink(RecordSink):
    """ASR commits every few segments and moves the cursor: a killed pass resumes after them."""

    resumable = True

    def __init__(self, settings: Settings, frame_store: Any, identity: str) -> None:
        self.settings, self.frame_store, self.identity = settings, frame_store, identity

    def index(self) -> SpeechIndex:  # opened on first use: a pass that writes nothing never connects
        return speech_index(self.settings, self.frame_store, self.identity)

    def committed(self, video_id: str) -> list[Segment]:
        return self.index().store.video(video_id)

    def append(self, video_id: str, path: str, records: list[Segment], first: int) -> float:
        self.index().replace_video(video_id, path, records, first)
        return records[-1].end if records else 0.0

    def commit(self, video_id: str, path: str, analysis: Analysis, prior: list[Segment]) -> int:
        segments = sorted([*prior, *analysis.segments], key=lambda x: (x.start, x.end))
        self.index().replace_video(video_id, path, segments)
        return len(segments)

    def copy_video(self, src_video_id: str, dst_video_id: str, path: str, expect: int) -> int | None:
        segments = self.committed(src_video_id)
        if len(segments) != expect:
            return None
        self.index().replace_video(dst_video_id, path, segments)
        return len(segments)

    def delete_video(self, video_id: str) -> None:
        self.index().delete_video(video_id)

    def forget(self) -> None:
        forget_indexes(self.frame_store)
        SpeechStore.drop_all(self.frame_store._client, self.settings.store.collection_prefix)
        fts_dir = self.settings.data_dir / "speech-fts"
        if fts_dir.is_dir():
            for f in fts_dir.iterdir():
                f.unlink(missing_ok=True)
