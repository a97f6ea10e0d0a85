"""The text channel's RecordSink: a file's lines into its identity's Chroma collection.

A text pass commits once, at its end (it costs a fraction of a decode: a killed pass starts again).
"""

from __future__ import annotations

from typing import Any

from ..base import RecordSink
from .store import TextLines, TextStore, forget_stores, text_lines


class TextSink(RecordSink):
    def __init__(self, frame_store: Any, prefix: str, identity: str, where: str) -> None:
        self.frame_store, self.prefix, self.identity, self.where = frame_store, prefix, identity, where

    def lines(self) -> TextLines:  # opened on first use: a pass that writes nothing never connects
        return text_lines(self.frame_store, self.prefix, self.identity, self.where)

    def commit(self, video_id: str, path: str, analysis: Any, prior: list[Any]) -> int:
        tl = self.lines()
        records = [*prior, *analysis.records]
        tl.store.replace_video(video_id, path, records)
        tl.store.bump()
        tl.written()
        return len(records)

    def delete_video(self, video_id: str) -> None:
        tl = self.lines()
        tl.store.delete_video(video_id)
        tl.store.bump()
        tl.written()

    def forget(self) -> None:
        forget_stores(self.frame_store)
        TextStore.drop_all(self.frame_store._client, self.prefix)
