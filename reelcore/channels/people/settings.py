"""Settings of the people channel: `[channels.people]` in the config (reelcore.config.PeopleSettings)."""

from __future__ import annotations

from ...config import PeopleSettings

__all__ = ["PeopleSettings"]
