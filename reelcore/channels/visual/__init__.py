"""The visual channel: CLIP vectors of sampled frames (what is seen).

Its pass is today's indexer (reelcore.channels.visual.indexer: decode -> embed -> store, resumable by cursor) and
its state is the catalog's `files` row (catalog v4 shows it as channel 'visual' in the view
`file_channels`); this class only describes it, so the read side and status treat every channel
alike. It always runs first and is never delayed by another channel (passes.py).
"""

from __future__ import annotations

import threading

from ...config import Settings
from ..base import SEEN, Analysis, Channel, OnRecords


class VisualChannel(Channel):
    name = "visual"
    evidence = SEEN
    needs = ("frames",)

    def __init__(self, settings: Settings, identity: str) -> None:
        self.settings = settings
        self._identity = identity  # the embedder's (model + pretrained + precision)

    @property
    def identity(self) -> str:
        return self._identity

    def analyse(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                on_records: OnRecords | None = None) -> Analysis:
        raise NotImplementedError("the visual pass is reelcore.channels.visual.indexer.Indexer (frames are embedded in "
                                  "batches on several cores, not as one list)")
