"""Structured outputs of the MCP tools (their JSON schemas are the tools' `outputSchema`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

MatchLabel = Literal["good", "weak", "none"]


class BackgroundOut(BaseModel):
    median: float = Field(description="median score of this query against a random sample of indexed frames")
    sigma: float = Field(description="robust spread of those background scores")
    sample_size: int
    good_z: float = Field(description="z a result needs to count as a good match over this index")


class WordOut(BaseModel):
    word: str
    start: float
    end: float
    approx: bool = Field(description="true: placed within its subtitle cue, not measured (subtitles have no "
                                     "word times)")


class SaidOut(BaseModel):
    """What the speech channel found for a moment: the quote and where the query's words are said."""

    text: str = Field(description="the transcript segment (subtitle cue or ASR segment) that matched")
    start: float = Field(description="the segment's start, seconds")
    end: float
    language: str | None
    source: str = Field(description="sidecar:<file>, stream:<index>:<codec> or asr:<model>")
    words: list[WordOut] = Field(description="the query's words as said, with their times")
    coverage: float = Field(description="share of the query's words found in this segment")
    phrase: bool = Field(description="all the words, in the query's order, side by side")


class WrittenOut(BaseModel):
    """What the text channel found for a moment: the line on screen and where it is in the picture."""

    text: str = Field(description="the line of on-screen text as read")
    box: list[float] = Field(description="where the line is: [x0, y0, x1, y1], fractions 0..1 of the picture")
    start: float = Field(description="when the line appears, seconds")
    end: float = Field(description="when it is gone, seconds")
    confidence: float = Field(description="the OCR engine's confidence in the reading, 0..1")
    phrase: bool = Field(description="the query's words side by side in the line, in order")


class SpanOut(BaseModel):
    start: float
    end: float


class WhoOut(BaseModel):
    """What the people channel found for a moment or scene: who is on screen there together."""

    people: list[str] = Field(description="the people on screen together in this moment (names, or 'Person N')")
    strips: dict[str, list[SpanOut]] | None = Field(None, description=(
        "per person: where they appear in this video (their heat strip), seconds"))


class ChannelMatch(BaseModel):
    match: MatchLabel
    message: str


class MomentOut(BaseModel):
    rank: int
    video_id: str
    path: str = Field(description="the video file (on the machine that runs reelfind)")
    name: str = Field(description="file name")
    start: float = Field(description="seconds from the start of the video")
    end: float = Field(description="seconds")
    peak: float = Field(description="time of the best-matching frame, seconds")
    score: float = Field(description="cosine similarity of the best frame to the query")
    z: float = Field(description="sigmas above the query's background; >= good_z is a good match")
    frames: int = Field(description="matching frames merged into this moment")
    thumbnail: str | None = Field(description="JPEG of the peak frame (path on the reelfind machine)")
    uri: str = Field(description="playable reference: file URI with a #t=start,end media fragment")
    channels: list[str] = Field(default_factory=lambda: ["seen"], description=(
        "which channels support this moment: 'seen' (the picture), 'said' (the speech), 'written' (on-screen text)"))
    said: SaidOut | None = Field(None, description="for 'said': the quote and the matched words with times")
    written: WrittenOut | None = Field(None, description="for 'written': the on-screen line and its box")
    who: WhoOut | None = Field(None, description="for 'who': the people on screen together here")
    indexed_channels: list[str] | None = Field(None, description=(
        "channels whose pass is done for this file ('seen', 'said'): a moment without 'said' here "
        "may still be said once its speech pass has run"))


class SearchOut(BaseModel):
    query: str
    exclude: str | None = None
    match: MatchLabel = Field(description="good / weak / none: how far the best result beats the background")
    message: str
    best_z: float | None
    background: BackgroundOut | None
    moments: list[MomentOut]
    channels: dict[str, ChannelMatch] | None = Field(None, description=(
        "each searched channel's own verdict ('seen', 'said'); absent: the picture only"))


class SceneOut(BaseModel):
    rank: int
    video_id: str
    path: str
    name: str
    start: float
    end: float
    peak: float = Field(description="time where the weakest concept is strongest")
    score: float = Field(description="weakest concept's cosine score at the peak")
    z: float = Field(description="weakest concept's z at the peak")
    mean_z: float = Field(description="mean over the scene's frames of the weakest concept's z")
    concepts: dict[str, float] = Field(description="each concept's z at the peak")
    frames: int
    shots: list[int] = Field(description="shot numbers (0-based, +1 per detected cut) the scene spans")
    snapped_to_shots: bool = Field(description="bounds widened to the surrounding shot cuts")
    thumbnail: str | None
    uri: str
    said: dict[str, SaidOut] | None = Field(None, description=(
        "for 'said:' items of all_of: where each phrase is said in or next to the scene"))
    who: WhoOut | None = Field(None, description=(
        "with people=[...]: who is on screen together in this scene, and each one's strip in this video"))


class ScenesOut(BaseModel):
    concepts: list[str]
    threshold_z: float
    match: MatchLabel
    message: str
    best_z: float | None
    videos_scanned: int
    scenes: list[SceneOut]
    said: list[str] | None = Field(None, description="phrases that must also be said in each scene")
    people: list[str] | None = Field(None, description="people who must all be on screen in each scene")


class TimelinePoint(BaseModel):
    start: float
    end: float
    score: float
    z: float


class PeakOut(BaseModel):
    time: float
    start: float
    end: float
    score: float
    z: float
    thumbnail: str | None
    uri: str


class TimelineOut(BaseModel):
    video_id: str
    path: str
    name: str
    query: str
    duration: float
    frames: int = Field(description="indexed frames in the video")
    binned: bool = Field(description="true if points are bins (best frame per bin), not single frames")
    match: MatchLabel
    message: str
    background: BackgroundOut
    peaks: list[PeakOut]
    points: list[TimelinePoint]
    heatmap: str = Field(description="what the attached PNG shows")


class FrameOut(BaseModel):
    video_id: str
    path: str
    name: str
    requested_time: float
    start: float = Field(description="the returned frame stands for [start, end) seconds")
    end: float
    shot: int
    thumbnail: str
    uri: str


class VideoOut(BaseModel):
    video_id: str
    path: str
    name: str
    state: str = Field(description="pending, indexing, indexed or failed")
    duration: float | None
    frames: int
    error: str | None = Field(description="why indexing failed")
    note: str | None = Field(description="problems met while indexing (e.g. truncated file)")
    unavailable: bool = Field(description="its folder (e.g. a network share) is offline")
    uri: str
    channels: dict[str, str] | None = Field(None, description=(
        "each channel's state for this file: visual (the picture) and speech (pending, indexing, "
        "indexed, failed, disabled)"))


class VideoListOut(BaseModel):
    total: int
    offset: int
    limit: int
    videos: list[VideoOut]


class FailedOut(BaseModel):
    path: str
    reason: str | None
    attempts: int


class SegmentOut(BaseModel):
    start: float
    end: float
    text: str
    language: str | None
    source: str
    words: list[WordOut] | None = Field(None, description="word times, where the source has them (ASR)")


class TranscriptOut(BaseModel):
    video_id: str
    path: str
    name: str
    t_from: float | None
    t_to: float | None
    speech: str = Field(description="state of the speech channel for this file: indexed, pending, indexing, "
                                    "failed, or disabled")
    note: str | None = Field(description="e.g. 'no audio stream', or why the speech pass failed")
    segments: list[SegmentOut]
    truncated: bool = Field(description="more segments in this span than one answer holds: ask a shorter span")


class StatusOut(BaseModel):
    model_identity: str
    model_loaded: bool
    device: str
    vectors: int = Field(description="frame vectors in the store")
    counts: dict[str, int] = Field(description="files per state, plus unavailable and frames")
    current: dict[str, Any] | None = Field(description="what the indexer is doing now (None: idle or not "
                                                       "running in this process)")
    failed: list[FailedOut]
    roots: list[str]
    store: str
    channels: dict[str, dict[str, Any]] | None = Field(None, description=(
        "per channel: files indexed/pending/failed and media seconds left (speech: segments)"))


class PersonOut(BaseModel):
    id: int
    name: str | None = Field(description="the name the user gave; None: not named yet")
    label: str = Field(description="the name, or 'Person N' (both work wherever a person is asked for)")
    tracks: int = Field(description="face tracks (a face followed through a shot) grouped into this person")
    videos: int = Field(description="videos this person appears in")
    seconds: float = Field(description="total time on screen, seconds (summed over tracks)")
    face_track: int | None = Field(description="the track whose face crop shows this person best")
    first_seen: str | None = Field(description="a video this person appears in (path)")


class PeopleOut(BaseModel):
    enabled: bool = Field(description="false: the people channel is off (channels.people.enabled)")
    message: str
    total: int
    people: list[PersonOut]


class FaceOut(BaseModel):
    track: int = Field(description="face track id (for split, and its crop)")
    person_id: int | None
    label: str
    video_id: str
    path: str
    start: float
    end: float
    box: list[int] = Field(description="left, top, right, bottom, pixels (at the sample nearest the time asked)")


class FacesOut(BaseModel):
    faces: list[FaceOut]
