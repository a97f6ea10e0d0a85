"""Live progress of the indexer: a plain record, importable without the indexer (and PyAV)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    """Live progress of the indexer, read by the CLI bar, `index_status` and systemd STATUS=."""

    files_total: int = 0
    files_done: int = 0
    frames_done: int = 0
    video_seconds_done: float = 0.0
    current_path: str | None = None
    current_t: float = 0.0
    current_duration: float | None = None
    started_at: float = field(default_factory=time.time)

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(1e-6, time.time() - self.started_at)
        return {
            "files_total": self.files_total,
            "files_done": self.files_done,
            "frames_done": self.frames_done,
            "current_path": self.current_path,
            "current_t": round(self.current_t, 2),
            "current_duration": self.current_duration,
            "frames_per_second": round(self.frames_done / elapsed, 2),
            "video_seconds_per_second": round(self.video_seconds_done / elapsed, 2),
        }
