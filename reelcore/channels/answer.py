"""One channel's answer to a search, as the fusion takes it (fuse.py).

Each non-visual channel's read side (speech/answer.py, ...) turns a query into a `ChannelAnswer`:
its own verdict, its moments (as MomentOut with the channel's evidence field filled: `said`, ...)
and each moment's strength (2 good, 1 weak, 0 none), judged on the channel's own terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..models import ChannelMatch, MomentOut

if TYPE_CHECKING:
    from ..query.search import SearchService


@dataclass
class ChannelAnswer:
    evidence: str  # said | written | who
    verdict: ChannelMatch
    moments: list[MomentOut] = field(default_factory=list)
    strengths: list[int] = field(default_factory=list)  # per moment: 2 good, 1 weak, 0 none
    silent: bool = False  # nothing to look for in this query (e.g. it names nobody): left out of the verdict


@dataclass(frozen=True)
class SearchArgs:
    """What every channel's search takes (checked once, by search_channels)."""

    query: str
    limit: int
    path_glob: str | None
    t_from: float | None
    t_to: float | None
    people: tuple[str, ...] = ()  # search_footage(people=[...]): only moments where all of them are seen


Searcher = Callable[["SearchService", SearchArgs], ChannelAnswer]
