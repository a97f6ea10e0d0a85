"""Reuse an indexed video's work for an identical file: copy its vectors and thumbnails to a new
video id instead of decoding and embedding the copy again."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace

from .store import FrameStore, Thumbnails, frame_id


@dataclass(frozen=True)
class Copied:
    frames: int
    last_t_start: float


def copy_video(store: FrameStore, thumbs: Thumbnails, src_video_id: str, expect_frames: int,
               dst_video_id: str, dst_path: str) -> Copied | None:
    """Store the source video's frame vectors (and copy its thumbnails) under `dst_video_id` with path
    `dst_path`, one store page at a time. None, and nothing written, if the store does not hold
    exactly `expect_frames` frames of the source (its indexing was cut short or its vectors are gone)."""
    if expect_frames <= 0 or len(store.ids_for_video(src_video_id)) != expect_frames:
        return None
    n, last = 0, 0.0
    for frames, vectors in store.video_pages(src_video_id):
        for f in frames:
            src_thumb = thumbs.path(src_video_id, f.t_start)
            if src_thumb.exists():
                dst = thumbs.path(dst_video_id, f.t_start)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src_thumb, dst)
        store.upsert([replace(f, id=frame_id(dst_video_id, f.t_start), video_id=dst_video_id, path=dst_path)
                      for f in frames], vectors)
        n += len(frames)
        last = max([last, *(f.t_start for f in frames)])
    return Copied(n, last) if n == expect_frames else None
