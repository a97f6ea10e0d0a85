"""Settings of the people channel (`[channels.people]` once wired into reelcore.config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PeopleSettings(BaseModel):
    """Face detection, tracking and grouping. Face data is biometric: stored locally only."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Frames looked at per second of video. Faces are followed between consecutive samples, so
    # fewer samples means larger jumps between them (the tracker falls back to the embedding).
    sample_fps: float = Field(2.0, gt=0, le=30)
    # "hog": dlib's HOG frontal detector (~17 ms a 640x480 frame here, ~70 ms upsampled once);
    # "cnn": dlib's MMOD CNN (~1.2 s a 640x480 frame on this CPU: only with a CUDA build of dlib).
    detector: Literal["hog", "cnn"] = "hog"
    # Times the frame is doubled before detecting: HOG's window is 80 px, one upsample finds ~40 px
    # faces. Measured (bench/people_quality.py): upsample 1 finds 13/18 visible faces on friday.mp4
    # at ~18x the decode pass; upsample 0 finds 11/18 at ~6x, with thinner margins between people.
    upsample: int = Field(1, ge=0, le=2)
    # Frames are decoded with this shorter side at most (downscale only) before detection.
    frame_short_side: int = Field(720, ge=240, le=1024)
    min_face: int = Field(36, ge=16, le=512, description="faces smaller than this (px, box side) are ignored")
    best_frames: int = Field(3, ge=1, le=10, description="faces of a track that are embedded")
    # A track's vector joins the nearest person whose distance is under this (euclidean on unit
    # vectors of dlib's 128-d embedding). dlib's convention is 0.6 on raw descriptors, whose length
    # is ~1.5: ~0.4 here. Measured on the shared footage (bench/people_quality.py, 2 fps): same
    # person at most 0.25 (0.28 with upsample 0), different people at least 0.38 (0.31 with
    # upsample 0: two women in a grainy 1940 film); 0.30 sits between. Too low splits a person
    # (the user merges), too high merges two (harder to notice), so it errs low.
    match_threshold: float = Field(0.30, gt=0, le=2)
    crop_size: int = Field(112, ge=48, le=256, description="side of the JPEG face crop kept per track")

    @property
    def identity(self) -> str:
        """Engine + model + the settings that change which tracks and vectors come out."""
        return (f"dlib-{self.detector}-u{self.upsample}-s{self.frame_short_side}-resnet128-5pt"
                f"-f{self.sample_fps:g}-m{self.min_face}-b{self.best_frames}")
