"""A configured root plus how it is watched (events or polling): the one type the watcher, the
stability tracker and the job queue all name, in a module of its own so none imports another for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reelcore.config import RootSettings
from reelcore.ingest.discovery import Root


@dataclass(frozen=True)
class WatchedRoot:
    """A configured root plus how it is watched."""

    root: Root
    watch: str = "events"  # "events" | "poll"
    poll_interval: float = 30.0
    stable_seconds: float = 10.0

    @property
    def path(self) -> Path:
        return self.root.path

    @classmethod
    def from_settings(cls, cfg: RootSettings, root: Root) -> WatchedRoot:
        return cls(root, cfg.watch, cfg.poll_interval, cfg.effective_stable_seconds)
