"""Channels: the kinds of evidence a file gives (docs/architecture.md, "Channels").

Each channel turns a file into time-coded records behind one small interface (`base.Channel`):
`visual` (CLIP frame vectors: today's index, run by reelcore.channels.visual.indexer) and `speech` (transcript
segments from subtitles and faster-whisper, `speech/`). Per file and channel the catalog keeps
the pass's state (`state.py`); `passes.py` runs the non-visual passes after a file's visual pass,
at lower priority; `fuse.py` merges the channels' answers into one ranked list of moments.
"""

from __future__ import annotations

from .base import SAID, SEEN, Channel, Segment, Word

__all__ = ["SAID", "SEEN", "Channel", "Segment", "Word"]
