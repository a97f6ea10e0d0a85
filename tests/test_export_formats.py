"""Exports of moments to editing applications, read back: OpenTimelineIO for every format it
reads, plus an independent EDL reader, CSV and XML parsers. Source in/out must equal the file's
own start timecode plus the moment, to the frame (tests/export_support.py computes it alone)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest

from reelcore.export import FORMATS, ExportMoment, export_moments, get_format, probe_timing
from reelcore.export.formats import FormatError
from reelcore.export.moments import ExportInputError, from_selection
from tests.export_support import MEDIA, SECONDS, Media, expected_frames, make_media, parse_edl, tc_frames, total_frames

# (start, end) seconds: an ordinary moment, one ending past the clip (the last frame is the limit),
# and one between frames.
SPANS = [(0.5, 1.2), (1.5, SECONDS + 0.7), (0.013, 0.061)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tc media")
    return {m.filename: make_media(folder, m) for m in MEDIA}


def _moments(path: Path, label: str = "a red car") -> list[ExportMoment]:
    return [ExportMoment(video_id="0123456789abcdef", path=str(path), name=path.name, start=a, end=b, label=label,
                         peak=a, score=0.3125, z=3.25, channels=("seen", "said"), quote="we never went back")
            for a, b in SPANS]


def _tc(frames: int, m: Media) -> str:
    return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, float(m.rate)), float(m.rate), m.drop)


@pytest.mark.parametrize("m", MEDIA, ids=lambda m: m.filename)
def test_the_files_own_timing_is_read(media: dict[str, Path], m: Media) -> None:
    t = probe_timing(media[m.filename])
    assert t.rate == m.rate and t.drop_frame == m.drop
    assert t.start_timecode == (m.timecode or "00:00:00:00")
    assert t.start_frame == (tc_frames(m.timecode, m.rate) if m.timecode else 0)
    assert t.frames == total_frames(m)
    assert t.reel == m.reel and not t.vfr and t.note is None


def test_variable_frame_rate_gets_its_nominal_rate_and_says_so(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "phone vfr.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30:duration=2",
                    "-vf", "select='lt(mod(n\\,6)\\,3)'", "-vsync", "vfr", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
    t = probe_timing(path)
    assert t.vfr and t.rate == 30 and "variable frame rate" in (t.note or "")
    out = export_moments(_moments(path), "csv", "vfr")
    assert "variable frame rate" in out.message


@pytest.mark.parametrize("m", MEDIA, ids=lambda m: m.filename)
def test_edl_source_timecodes_are_file_timecode_plus_moment(media: dict[str, Path], m: Media) -> None:
    out = export_moments(_moments(media[m.filename]), "edl", "a red car")
    edl = parse_edl(out.text)
    assert edl.fcm == ("DROP FRAME" if m.drop else "NON-DROP FRAME")
    assert len(edl.events) == len(SPANS)
    record = tc_frames("01:00:00;00" if m.drop else "01:00:00:00", m.rate)
    for ev, (a, b) in zip(edl.events, SPANS, strict=True):
        src_in, src_out = expected_frames(m, a, b)
        assert (ev.src_in, ev.src_out) == (_tc(src_in, m), _tc(src_out, m))
        assert (tc_frames(ev.rec_in, m.rate), tc_frames(ev.rec_out, m.rate)) == (record, record + src_out - src_in)
        record += src_out - src_in
        assert ev.reel == (m.reel or "AX")
        assert f"* FROM CLIP NAME:  {m.filename}" in ev.comments
        assert f"* LOC: {ev.src_in} GREEN   a red car" in ev.comments
        assert any(c.startswith(" |C:ResolveColorGreen |M:a red car |D:") for c in ev.comments)
        assert any('score 0.312 (z 3.2)' in c and '"we never went back"' in c and "seen, said" in c
                   for c in ev.comments)
    # the last moment ends past the clip: its out point is the clip's end, not later
    last_in, last_out = expected_frames(m, *SPANS[1])
    assert last_out - (tc_frames(m.timecode, m.rate) if m.timecode else 0) == total_frames(m)
    # OpenTimelineIO's own CMX reader agrees on every source range
    tl = otio.adapters.read_from_string(out.text, "cmx_3600", rate=float(m.rate))
    got = [(round(c.source_range.start_time.value), round(c.source_range.end_time_exclusive().value))
           for c in tl.find_clips()]
    assert got == [expected_frames(m, a, b) for a, b in SPANS]


@pytest.mark.parametrize("m", MEDIA, ids=lambda m: m.filename)
def test_otio_fcp7_fcpxml_and_csv_carry_the_same_frames(media: dict[str, Path], m: Media) -> None:
    path = media[m.filename]
    want = [expected_frames(m, a, b) for a, b in SPANS]
    first = tc_frames(m.timecode, m.rate) if m.timecode else 0

    tl = otio.adapters.read_from_string(export_moments(_moments(path, "q"), "otio", "q").text, "otio_json")
    clips = list(tl.find_clips())
    assert [(round(c.source_range.start_time.value), round(c.source_range.end_time_exclusive().value))
            for c in clips] == want
    assert all(c.source_range.start_time.rate == float(m.rate) for c in clips)
    assert Path(unquote(urlparse(clips[0].media_reference.target_url).path)) == path
    assert clips[0].markers[0].name == "q" and '"we never went back"' in clips[0].markers[0].comment

    xml = export_moments(_moments(path, "q"), "fcp7", "q").text
    tl7 = otio.adapters.read_from_string(xml, "fcp_xml")
    clips7 = list(tl7.find_clips())
    assert [(round(c.source_range.start_time.value), round(c.source_range.end_time_exclusive().value))
            for c in clips7] == want  # the reader adds the file's timecode to the media-relative in/out
    tc = ET.fromstring(xml).find(".//file/timecode")
    assert tc is not None and tc.findtext("string") == (m.timecode or "00:00:00:00")
    assert tc.findtext("displayformat") == ("DF" if m.drop else "NDF")
    assert tc.findtext("frame") == str(first)
    markers = ET.fromstring(xml).findall(".//clipitem/marker")
    assert [(int(e.findtext("in")), int(e.findtext("out"))) for e in markers] == [(a - first, b - first)
                                                                                 for a, b in want]
    assert all(e.findtext("name") == "q" and "score 0.312" in e.findtext("comment") for e in markers)

    root = ET.fromstring(export_moments(_moments(path, "q"), "fcpxml", "q").text)
    assert tuple(int(x) for x in root.get("version").split(".")) >= (1, 9)
    asset = root.find("./resources/asset")
    assert _secs(asset.get("start")) == Fraction(first) / m.rate
    assert unquote(urlparse(asset.find("media-rep").get("src")).path) == str(path)
    acs = root.findall("./library/event/project/sequence/spine/asset-clip")
    assert [(_secs(a.get("start")), _secs(a.get("start")) + _secs(a.get("duration"))) for a in acs] == [
        (Fraction(x) / m.rate, Fraction(y) / m.rate) for x, y in want]
    assert [a.find("marker").get("value") for a in acs] == ["q"] * len(SPANS)

    rows = list(csv.DictReader(io.StringIO(export_moments(_moments(path, "q"), "csv", "q").text)))
    assert [(r["source_in"], r["source_out"]) for r in rows] == [(_tc(a, m), _tc(b, m)) for a, b in want]
    assert rows[0]["file"] == m.filename and rows[0]["quote"] == "we never went back"


def _secs(v: str) -> Fraction:
    assert v.endswith("s")
    return Fraction(v[:-1])


def test_mixed_files_keep_each_files_own_timecode(media: dict[str, Path]) -> None:
    """A selection across rates: every event's source timecode is in its own file's rate and mode."""
    moments = [mo for m in MEDIA for mo in _moments(media[m.filename])[:1]]
    edl = parse_edl(export_moments(moments, "edl", "mixed").text)
    for ev, m in zip(edl.events, MEDIA, strict=True):
        assert (ev.src_in, ev.src_out) == tuple(_tc(f, m) for f in expected_frames(m, *SPANS[0]))
    assert [e.rec_in for e in edl.events] == sorted(e.rec_in for e in edl.events)
    assert all(a.rec_out == b.rec_in for a, b in zip(edl.events, edl.events[1:], strict=False))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_empty_result_is_a_valid_empty_file_with_a_clear_message(fmt: str) -> None:
    out = export_moments([], fmt, "nothing here", empty_reason="no good match")
    assert out.moments == 0 and "no moments to export (no good match)" in out.message
    if fmt == "edl":
        assert parse_edl(out.text).events == []
        assert list(otio.adapters.read_from_string(out.text, "cmx_3600").find_clips()) == []
    elif fmt == "csv":
        assert len(list(csv.reader(io.StringIO(out.text)))) == 1
    elif fmt == "fcpxml":
        assert ET.fromstring(out.text).find(".//spine") is not None
    else:
        assert list(otio.adapters.read_from_string(out.text, "fcp_xml" if fmt == "fcp7" else "otio_json")
                    .find_clips()) == []


def test_format_from_extension_or_name() -> None:
    assert get_format(filename="out/My Cut.EDL").name == "edl"
    assert get_format(filename="x.fcpxml").name == "fcpxml" and get_format(filename="x.xml").name == "fcp7"
    assert get_format("CSV", "x.edl").name == "csv"
    with pytest.raises(FormatError, match="cannot tell the export format"):
        get_format(filename="moments.txt")
    with pytest.raises(FormatError, match="unknown export format"):
        get_format("aaf")


def test_a_selection_is_checked_against_the_catalogue() -> None:
    class Rec:
        video_id, path, duration, frames = "0123456789abcdef", "/f/clip one.mov", 10.0, 10

    def lookup(vid: str):
        return Rec() if vid == Rec.video_id else None

    got = from_selection([{"video_id": Rec.video_id, "start": 1, "end": 2}], lookup)
    assert got[0].name == "clip one.mov" and got[0].label == "selection"
    for bad, msg in [({"video_id": "ffffffffffffffff", "start": 1, "end": 2}, "no indexed video"),
                     ({"video_id": Rec.video_id, "start": 2, "end": 1}, "start < end"),
                     ({"video_id": Rec.video_id, "start": 11, "end": 12}, "after the end"),
                     ({"video_id": Rec.video_id, "start": "x", "end": 1}, "numbers")]:
        with pytest.raises(ExportInputError, match=msg):
            from_selection([bad], lookup)
    with pytest.raises(ExportInputError, match="at most"):
        from_selection([{"video_id": Rec.video_id, "start": 1, "end": 2}] * 501, lookup)


def test_an_unreadable_file_is_exported_at_zero_and_said(tmp_path: Path) -> None:
    gone = tmp_path / "gone.mov"
    out = export_moments([ExportMoment("0" * 16, str(gone), gone.name, 1.0, 2.0, "q")], "edl", "q")
    assert "timing not readable" in out.message
    assert parse_edl(out.text).events[0].src_in == "00:00:01:00"


def test_a_said_moment_exports_its_quote_and_channels() -> None:
    """A fused search answer: the marker's comment names both channels and quotes the words said."""
    from reelcore.export.moments import from_search
    from reelcore.models import MomentOut, SaidOut, SearchOut

    said = SaidOut(text="We never went back", start=1.0, end=3.5, language="en", source="sidecar:a.srt",
                   words=[], coverage=1.0, phrase=True)
    m = MomentOut(rank=1, video_id="0123456789abcdef", path="/f/a.mkv", name="a.mkv", start=1.0, end=3.7,
                  peak=1.0, score=0.2, z=0.4, frames=1, thumbnail=None, uri="file:///f/a.mkv#t=1,3.7",
                  channels=["seen", "said"], said=said)
    out = SearchOut(query="never went back", match="good", message="", best_z=0.4, background=None, moments=[m])
    (em,) = from_search(out)
    assert em.channels == ("seen", "said") and em.quote == "We never went back"
