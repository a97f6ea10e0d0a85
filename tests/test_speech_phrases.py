"""Phrases said over two subtitle cues in a row, and Chinese/Japanese text (no spaces between
words), found through the real index: sidecar files beside a real clip, the speech channel's pass,
the store and the local word index (fts.py)."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from reelcore.channels.speech.fts import SpeechFTS
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from tests.conftest import tiny_settings
from tests.speech_support import have_tools, srt_text, talking_clip

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not have_tools(), reason="needs ffmpeg and espeak-ng")]

CUES = [(0.2, 1.0, "We never"), (1.2, 2.0, "went back."), (2.3, 3.0, "我们从未回去"),
        (3.2, 3.9, "東京タワーへ行った"), (6.5, 7.0, "the river")]


@pytest.fixture(scope="module")
def said(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("phrases")
    clips = tmp / "clips"
    talking_clip(clips / "a.mp4", seconds=8.0)
    (clips / "a.srt").write_text(srt_text(CUES), encoding="utf-8")
    s = tiny_settings(tmp / "data")
    rt = Runtime.open(s, "test")
    try:
        for r in rt.reconciler().reconcile(Root(clips)).todo:
            rt.indexer().index(r)
        passes = rt.channel_passes()
        assert [o.state for o in passes.run_due(threading.Event())] == ["indexed"]
        yield passes.sink(passes.speech).index()
    finally:
        rt.close()


def test_a_phrase_over_two_cues_in_a_row_is_one_good_hit_with_its_words_in_both(said):
    res = said.search("we never went back")
    assert res.match == "good"
    top = res.hits[0]
    assert top.phrase and top.coverage == 1.0 and top.segment.text == "We never went back."
    assert [w.word for w in top.words] == ["We", "never", "went", "back"]
    assert all(0.2 <= w.start <= w.end <= 1.0 for w in top.words[:2])  # in the first cue
    assert all(1.2 <= w.start <= w.end <= 2.0 for w in top.words[2:])  # in the second
    assert top.start == 0.2 and 1.8 < top.end <= 2.0  # one moment over both cues
    assert len([h for h in res.hits if "went back" in h.segment.text]) == 1  # not again as its own cue


def test_words_of_two_cues_out_of_order_or_far_apart_are_no_phrase(said):
    assert not said.search("back went").hits[0].phrase
    far = said.search("tower river")  # no such pair; "行った" and "the river" are 2.6 s apart
    assert far.match != "good"
    assert not said.search("行った the river").hits[0].phrase


@pytest.mark.parametrize("query, text", [("从未回去", "我们从未回去"), ("我们从未", "我们从未回去"),
                                         ("タワー", "東京タワーへ行った"), ("東京タワー", "東京タワーへ行った")])
def test_chinese_and_japanese_phrases_are_found_without_spaces(said, query, text):
    res = said.search(query)
    assert res.match == "good" and res.hits[0].segment.text == text and res.hits[0].phrase
    cue = next(c for c in CUES if c[2] == text)
    assert cue[0] <= res.hits[0].start <= res.hits[0].end <= cue[1]
    assert "".join(w.word for w in res.hits[0].words) == query


def test_cjk_characters_not_side_by_side_are_no_phrase(said):
    res = said.search("回我")  # both characters are said, but not in this order
    assert res.hits and not res.hits[0].phrase and res.match == "weak"


def test_an_accelerator_of_the_older_layout_starts_afresh(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("CREATE VIRTUAL TABLE seg USING fts5(text, sid UNINDEXED); "
                     "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); "
                     "INSERT INTO seg VALUES ('we never', 'x:s:0'); INSERT INTO meta VALUES ('generation', 'g1');")
    db.close()
    fts = SpeechFTS(path)
    try:  # empty, with no generation: the next search rebuilds it from the store
        assert fts.count() == 0 and fts.generation == ""
    finally:
        fts.close()
