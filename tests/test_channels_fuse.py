"""Fusing seen and said moments (reelcore.channels.fuse): one moment covers both kinds of evidence."""

from __future__ import annotations

from reelcore.channels.answer import ChannelAnswer
from reelcore.channels.fuse import fuse
from reelcore.models import ChannelMatch, MomentOut, SaidOut, SearchOut, WordOut


def _moment(rank: int, start: float, end: float, peak: float, z: float = 0.4, said: SaidOut | None = None) -> MomentOut:
    return MomentOut(rank=rank, video_id="v1", path="/f/a.mkv", name="a.mkv", start=start, end=end, peak=peak,
                     score=0.2, z=z, frames=1, thumbnail=None, uri=f"file:///f/a.mkv#t={start},{end}",
                     channels=["said"] if said else ["seen"], said=said)


def test_a_said_moment_joining_a_seen_one_widens_it_to_the_quote() -> None:
    """Seen at 3.0-3.7 s (weakly), said at 1.0-3.5 s (the whole phrase): one moment, 1.0-3.7 s,
    playing from the first said word, so the quote's times lie inside what is handed on."""
    said = SaidOut(text="We never went back", start=1.0, end=3.5, language="en", source="sidecar:a.srt",
                   words=[WordOut(word="never", start=1.4, end=1.8, approx=True)], coverage=1.0, phrase=True)
    seen = SearchOut(query="never", match="none", message="m", best_z=0.4, background=None,
                     moments=[_moment(1, 3.0, 3.7, 3.0)])
    said_m = _moment(1, 1.0, 3.5, 1.4, z=0.0, said=said)
    out = fuse(seen, [ChannelAnswer("said", ChannelMatch(match="good", message=""), [said_m], [2])], 1.0, 10)
    assert len(out) == 1
    m = out[0]
    assert m.channels == ["seen", "said"] and (m.start, m.end, m.peak) == (1.0, 3.7, 1.4)
    assert m.uri.endswith("#t=1,3.7") and m.said is not None and m.start <= m.said.start and m.said.end <= m.end
