"""The text channel with the real OCR engine (RapidOCR, PP-OCRv4 weights from its wheel) on a
clip rendered for the test: a slate on a dark picture, then a lower third over real footage."""

from __future__ import annotations

import threading

import pytest

from reelcore.channels.text.channel import TextChannel
from reelcore.channels.text.engine import OcrLine
from reelcore.channels.text.match import match_text
from reelcore.channels.text.spans import SpanTracker
from tests.textvideo import render, slate_and_lower_third

pytest.importorskip("rapidocr_onnxruntime")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    clip = slate_and_lower_third()
    path = render(clip, tmp_path_factory.mktemp("text") / "slate.mp4")
    return clip, TextChannel().analyse(str(path), threading.Event())


def _found(records, query):
    hits = [(m, r) for r in records if (m := match_text(query, r.text)) is not None and m.phrase]
    return max(hits, key=lambda h: h[0].score, default=(None, None))[1]


def test_slate_and_lower_third_are_found_at_their_start(analysed):
    clip, an = analysed
    slate, lower = clip.cards
    assert an.complete and an.frames_read < an.frames_checked  # the gate skipped pictures
    rec = _found(an.records, "scene 42 take 3")
    assert rec is not None, [r.text for r in an.records]
    assert abs(rec.t_start - slate.start) <= 1.0 and abs(rec.t_end - slate.end) <= 1.0
    assert 0.0 <= rec.box[0] < rec.box[2] <= 1.0 and 0.0 <= rec.box[1] < rec.box[3] <= 1.0
    assert abs(rec.box[1] - slate.y) < 0.05  # normalised box where the slate was drawn
    name = _found(an.records, "Maria Lopez")
    assert name is not None and _found(an.records, "hydrologist") is name
    assert abs(name.t_start - lower.start) <= 1.0
    # one record per line shown, not one per frame read
    assert sum(1 for r in an.records if match_text("scene 42", r.text)) == 1


def test_numbers_matter(analysed):
    _, an = analysed
    assert _found(an.records, "scene 42") is not None
    assert all(match_text("scene 24", r.text) is None for r in an.records)
    assert all(match_text("take 8", r.text) is None for r in an.records)


@pytest.mark.parametrize("query,line,ok", [
    ("flood", "The Flo0d of 1998", True),  # 0 read for O
    ("hydrologist", "HYDROLGIST", True),  # a missing letter
    ("Illinois", "ILLIN0IS", True),  # l / I / 1 look-alikes
    ("1998", "The Flood of l998", True),  # l read for 1 in a number
    ("maria lopez", "MARIALOPEZ·HYDROLOGIST", True),  # space dropped by OCR
    ("scene 4", "SCENE42TAKE3", False),  # a number is whole
    ("scene 24", "SCENE 42 TAKE 3", False),
    ("cat", "CAR", False),  # short words are exact
])
def test_match_tolerates_ocr_slips(query, line, ok):
    assert (match_text(query, line) is not None) == ok


def test_spans_join_readings_of_the_same_line():
    tr = SpanTracker()
    line = OcrLine("SCENE 42 TAKE 3", (100, 100, 500, 140), 0.9)
    assert tr.feed(1.0, [line], 1000, 1000) == ([], tr.open and [tr.open[0].rec])
    closed, opened = tr.feed(2.0, [OcrLine("SCENE 42 TAKE3", (102, 101, 498, 141), 0.95)], 1000, 1000)
    assert not closed and not opened
    closed, _ = tr.feed(3.0, [], 1000, 1000)
    assert len(closed) == 1 and (closed[0].t_start, closed[0].t_end, closed[0].seen) == (1.0, 2.0, 2)
    assert closed[0].text == "SCENE 42 TAKE3"  # the most confident reading


def test_a_file_that_is_not_video_fails_this_channel_with_a_reason(tmp_path):
    from reelcore.channels.text.channel import ChannelError

    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ChannelError, match="not a video file"):
        TextChannel().analyse(str(bad), threading.Event())


def test_stop_ends_the_pass_incomplete(analysed, tmp_path):
    clip, _ = analysed
    path = render(clip, tmp_path / "again.mp4")
    stop = threading.Event()
    stop.set()
    an = TextChannel().analyse(str(path), stop)
    assert not an.complete and an.records == []


def test_sparse_reads_still_place_start_and_end(analysed, tmp_path):
    """Read at most every 3 s: the slate (1.0-4.0 s) is first read at 3.0 s and missed at 6.0 s;
    its start and end come from the small pictures kept between reads."""
    from reelcore.channels.text.channel import TextSettings
    from reelcore.channels.text.gate import GateSettings

    clip, _ = analysed
    slate = clip.cards[0]
    path = render(clip, tmp_path / "sparse.mp4")
    sparse = TextSettings(gate=GateSettings(min_gap=3.0, max_gap=3.0, event_gap=3.0))
    an = TextChannel(sparse).analyse(str(path), threading.Event())
    rec = _found(an.records, "scene 42 take 3")
    assert rec is not None and rec.seen == 1  # read once, at 3.0 s
    assert abs(rec.t_start - slate.start) <= 0.6 and abs(rec.t_end - slate.end) <= 0.6, (rec.t_start, rec.t_end)


def test_identity_changes_with_every_output_changing_setting():
    from reelcore.channels.text.channel import TextSettings
    from reelcore.channels.text.gate import GateSettings

    base = TextChannel().identity
    assert TextChannel(TextSettings(gate=GateSettings(edge_step=50))).identity != base
    assert TextChannel(TextSettings(det_side=1280)).identity != base
    assert TextChannel(TextSettings(min_confidence=0.7)).identity != base
    assert TextChannel(TextSettings()).identity == base
