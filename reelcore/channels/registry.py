"""The non-visual channels of a configuration, in the order their passes run.

Visual is not here: it is today's index (reelcore.channels.visual.indexer) and always runs first. Speech comes
first of the others (subtitles are cheap), then text, people last (a face pass costs many times a decode).
Each channel is built from its settings section; its heavy engine loads on first use only.
"""

from __future__ import annotations

from ..config import Settings
from .base import Channel


def channel_names() -> tuple[str, ...]:
    return ("speech", "text", "people")


def build(settings: Settings, name: str) -> Channel:
    """One channel by name (enabled or not: a disabled one still knows its identity and data)."""
    if name == "speech":
        from .speech.channel import SpeechChannel

        return SpeechChannel(settings)
    if name == "text":
        from .text.channel import TextChannel, settings_from

        return TextChannel(settings_from(settings.channels.text), prefix=settings.store.collection_prefix,
                           where=settings.store.url or str(settings.chroma_dir))
    if name == "people":
        from .people.channel import PeopleChannel

        return PeopleChannel(settings.channels.people, settings.data_dir, settings.store.collection_prefix,
                             settings.store.url or str(settings.chroma_dir))
    raise ValueError(f"unknown channel {name!r}: use one of {list(channel_names())}")


def all_channels(settings: Settings) -> list[Channel]:
    return [build(settings, n) for n in channel_names()]


def enabled_channels(settings: Settings) -> list[Channel]:
    return [c for c in all_channels(settings) if c.enabled]
