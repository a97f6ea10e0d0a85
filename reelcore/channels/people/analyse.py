"""One PyAV decode pass of a video file -> its face tracks.

Decoding, timestamps, rotation and hard-cut detection are reelcore.media.decode's (`sample_frames`), so
the people channel sees the same times and shots as the visual channel. A cut closes every open
track (the same place on screen after a cut is not the same face).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...config import SamplingSettings
from ...media.decode import DecodeReport, sample_frames
from .engine import FaceEngine
from .settings import PeopleSettings
from .tracks import FaceTrack, Tracker

OnTracks = Callable[[list[FaceTrack]], None]


@dataclass
class FileFaces:
    """What one pass over one file found."""

    tracks: list[FaceTrack] = field(default_factory=list)
    seconds: float = 0.0  # media time covered
    frames: int = 0  # samples looked at
    faces: int = 0  # detections on them
    complete: bool = True  # False: stopped early on request
    note: str | None = None


def sampling_for(s: PeopleSettings) -> SamplingSettings:
    """Every sample kept (no duplicate dropping: a still face is still there), cut detection on."""
    return SamplingSettings(interval=1.0 / s.sample_fps, detect_cuts=True, dedup_threshold=0.0,
                            thumbnail_size=s.frame_short_side, decode_mode="auto")


def analyse_file(path: str, engine: FaceEngine, s: PeopleSettings, stop: threading.Event | None = None,
                 on_tracks: OnTracks | None = None) -> FileFaces:
    """Face tracks of one file, in the order they close. Raises reelcore.media.decode.DecodeError when the
    file cannot be decoded at all. `on_tracks` gets each batch of closed tracks as it comes."""
    out = FileFaces()
    rep = DecodeReport()
    # Boxes are in the decoded frame's pixels (shorter side <= frame_short_side).
    tracker = Tracker(engine, max_gap=2.5 / s.sample_fps, best=s.best_frames, crop_size=s.crop_size)

    def emit(tracks: list[FaceTrack]) -> None:
        if tracks:
            out.tracks.extend(tracks)
            if on_tracks is not None:
                on_tracks(tracks)

    for fr in sample_frames(path, sampling_for(s), rep, mode="auto"):
        if stop is not None and stop.is_set():
            out.complete = False
            break
        rgb = np.asarray(fr.image)
        faces = engine.detect(rgb, min_size=s.min_face)
        out.frames += 1
        out.faces += len(faces)
        emit(tracker.add(fr.t_frame, rgb, faces, cut=fr.is_cut))
        out.seconds = fr.t_end
    emit(tracker.flush())
    out.note = rep.note
    return out
