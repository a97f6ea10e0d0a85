"""The channel core and the speech channel from subtitles, end to end on real files.

Footage with speech is made here (espeak-ng + ffmpeg, tests/speech_support.py); subtitles are
real sidecar files and real subtitle streams decoded by PyAV; the index is real (tiny CLIP model,
embedded Chroma), the CLI runs as a subprocess, MCP through a real client session.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import anyio
import pytest

from reelcore.channels.state import ChannelStates
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from reelcore.storage.catalog import MIGRATIONS, Catalog
from tests.conftest import REPO, tiny_env, tiny_settings
from tests.speech_support import CUES, have_tools, srt_text, talking_clip, vtt_text

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not have_tools(), reason="needs ffmpeg and espeak-ng (see .ci/run)")]

REELFIND = [sys.executable, "-m", "reelfind.cli"]


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(REELFIND + args, env=env, capture_output=True, text=True, timeout=240, cwd=REPO)


def index_in_process(settings, root):
    rt = Runtime.open(settings, "test")
    try:
        plan = rt.reconciler().reconcile(Root(root))
        outs = [rt.indexer().index(r) for r in plan.todo]
        said = rt.channel_passes().run_due(__import__("threading").Event())
        return plan, outs, said
    finally:
        rt.close()


def visual_rows(catalog_path):
    db = sqlite3.connect(catalog_path)
    try:
        return db.execute("SELECT path, video_id, state, frames, cursor_ms, attempts, model_identity, updated_at "
                          "FROM files ORDER BY path").fetchall()
    finally:
        db.close()


# -- catalog upgrade -------------------------------------------------------------------------------
def test_existing_catalog_upgrades_in_place_visual_state_carried_nothing_reindexed(tmp_path, monkeypatch):
    clips = tmp_path / "clips"
    talking_clip(clips / "a.mp4")
    talking_clip(clips / "b.mp4", say="the river rose")
    s = tiny_settings(tmp_path / "data")
    # The catalog as the code before channels made it (schema v4, with short_reads): the first 4 migrations only.
    monkeypatch.setattr("reelcore.storage.catalog.MIGRATIONS", MIGRATIONS[:4])
    rt = Runtime.open(s, "test")
    try:
        plan = rt.reconciler().reconcile(Root(clips))
        assert [rt.indexer().index(r).state for r in plan.todo] == ["indexed", "indexed"]
        assert rt.catalog.schema_version == 4
        frames = rt.store.count()
    finally:
        rt.close()
    before = visual_rows(s.catalog_path)
    monkeypatch.setattr("reelcore.storage.catalog.MIGRATIONS", MIGRATIONS)
    rt = Runtime.open(s, "test")
    try:
        assert rt.catalog.schema_version == len(MIGRATIONS)
        assert visual_rows(s.catalog_path) == before  # files untouched by the upgrade
        vis = rt.catalog.rows("SELECT video_id, identity, state, records FROM file_channels WHERE channel = 'visual' "
                              "ORDER BY video_id")
        assert sorted((r[0], r[1], r[2], r[3]) for r in vis) == sorted((b[1], b[6], b[2], b[3]) for b in before)
        plan = rt.reconciler().reconcile(Root(clips))
        assert plan.todo == [] and plan.unchanged == 2  # no visual re-index queued
        assert rt.store.count() == frames
        # The speech channel is due for both (a backfill of that channel alone).
        passes = rt.channel_passes()
        assert {r.path for _, r in passes.due()} == {str(clips / "a.mp4"), str(clips / "b.mp4")}
        outs = passes.run_due(__import__("threading").Event())
        assert [o.state for o in outs] == ["indexed", "indexed"]
        assert visual_rows(s.catalog_path) == before and rt.store.count() == frames
    finally:
        rt.close()


# -- sources ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,codec", [("s.mp4", "mov_text"), ("s.mkv", "subrip"), ("a.mkv", "ass"),
                                        ("w.mkv", "webvtt")])
def test_subtitle_stream_becomes_segments(tmp_path, name, codec):
    talking_clip(tmp_path / "clips" / name, subtitle_cues=CUES, sub_codec=codec, language="eng")
    s = tiny_settings(tmp_path / "data")
    _, outs, said = index_in_process(s, tmp_path / "clips")
    assert outs[0].state == "indexed" and [o.state for o in said] == ["indexed"]
    rt = Runtime.open(s, "test")
    try:
        rec = rt.catalog.all()[0]
        passes = rt.channel_passes()
        segs = passes.sink(passes.speech).index().store.video(rec.video_id)
        assert [x.text for x in segs] == [c[2] for c in CUES]
        assert all(x.language == "eng" and x.source.startswith("stream:") for x in segs)
        for x, (a, b, _) in zip(segs, CUES, strict=True):
            assert abs(x.start - a) < 0.1 and abs(x.end - b) < 0.1
    finally:
        rt.close()


def test_cli_sidecars_search_said_and_transcript(tmp_path):
    clips = tmp_path / "clips"
    talking_clip(clips / "talk.mp4")
    (clips / "talk.en.srt").write_text(srt_text())
    talking_clip(clips / "river.mp4", say="the river rose")
    (clips / "river.vtt").write_text(vtt_text([(0.2, 1.5, "Die Flut kam über Nacht")]))
    (clips / "river.notes.srt").write_text(srt_text([(0.0, 1.0, "not a subtitle of this clip")]))
    env = tiny_env(tmp_path / "data")
    r = cli(["index", str(clips), "--json"], env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 2 and summary["speech"] == {"indexed": 2, "segments": 3, "records": 3, "failed": []}

    # A misspelt phrase, another case: found as said, with its words and times.
    r = cli(["search", "WE NEVR went back", "--channel", "said", "--json"], env)
    assert r.returncode == 0, r.stderr
    moments = json.loads(r.stdout)
    assert moments[0]["path"].endswith("talk.mp4") and moments[0]["channels"] == ["said"]
    said = moments[0]["said"]
    assert said["text"] == "We never went back" and said["phrase"] and said["language"] == "en"
    assert said["source"] == "sidecar:talk.en.srt"
    assert [w["word"] for w in said["words"]] == ["We", "never", "went", "back"]
    assert all(1.6 <= w["start"] < w["end"] <= 2.9 and w["approx"] for w in said["words"])
    assert "good match" in r.stderr
    # Another language, diacritics folded.
    r = cli(["search", "uber nacht", "--channel", "said", "--json"], env)
    assert json.loads(r.stdout)[0]["path"].endswith("river.mp4"), r.stdout
    # Not said anywhere: says so.
    r = cli(["search", "helicopter", "--channel", "said", "--json"], env)
    assert json.loads(r.stdout) == [] and "NO GOOD MATCH" in r.stderr and "not said" in r.stderr
    # Both channels by default: the table shows each moment's channels and the quote.
    r = cli(["search", "we never went back"], env)
    assert r.returncode == 0 and "said" in r.stdout and "We never went back" in r.stdout, r.stdout

    r = cli(["transcript", str(clips / "talk.mp4"), "--format", "srt"], env)
    assert r.returncode == 0 and r.stdout == srt_text(), r.stdout + r.stderr
    r = cli(["transcript", "talk.mp4", "--from", "1.5", "--format", "vtt"], env)
    assert r.stdout.startswith("WEBVTT") and "We never went back" in r.stdout and "storm" not in r.stdout
    r = cli(["transcript", "talk.mp4", "--format", "pdf"], env)
    assert r.returncode == 2 and "--format" in r.stderr

    r = cli(["status", "--json"], env)
    sp = json.loads(r.stdout)["channels"]["speech"]
    assert sp["indexed"] == 2 and sp["records"] == 3 and sp["pending"] == 0 and sp["seconds_left"] == 0
    assert "speech: 2/2 files" in cli(["status"], env).stdout


def test_sidecar_added_after_indexing_reruns_only_speech(tmp_path):
    clips = tmp_path / "clips"
    talking_clip(clips / "talk.mp4")
    env = tiny_env(tmp_path / "data")
    r = cli(["index", str(clips), "--json"], env)
    assert json.loads(r.stdout)["speech"]["segments"] == 0  # audio but no subtitles (ASR off): nothing yet
    before = visual_rows(tmp_path / "data" / "catalog.sqlite3")
    (clips / "talk.srt").write_text(srt_text())
    r = cli(["index", str(clips), "--json"], env)
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 0 and summary["skipped_unchanged"] == 1
    assert summary["speech"] == {"indexed": 1, "segments": 2, "records": 2, "failed": []}
    assert visual_rows(tmp_path / "data" / "catalog.sqlite3") == before  # the visual pass did not run again
    r = cli(["index", str(clips), "--json"], env)
    assert json.loads(r.stdout)["speech"]["indexed"] == 0  # unchanged sidecar: nothing to redo
    (clips / "talk.srt").write_text(srt_text([(0.5, 1.0, "changed words")]))
    r = cli(["index", str(clips), "--json"], env)
    assert json.loads(r.stdout)["speech"] == {"indexed": 1, "segments": 1, "records": 1, "failed": []}
    assert visual_rows(tmp_path / "data" / "catalog.sqlite3") == before


def test_failing_speech_pass_never_fails_the_file_and_no_audio_is_done(tmp_path):
    clips = tmp_path / "clips"
    talking_clip(clips / "bad.mp4")
    (clips / "bad.vtt").write_text("this is not WebVTT\n00:00 -> nonsense\n")
    talking_clip(clips / "mute.mp4", audio=False)
    s = tiny_settings(tmp_path / "data")
    _, outs, said = index_in_process(s, clips)
    assert {o.state for o in outs} == {"indexed"}
    by = {o.path.rsplit("/", 1)[-1]: o for o in said}
    assert by["bad.mp4"].state == "failed" and "bad.vtt" in by["bad.mp4"].reason
    assert by["mute.mp4"].state == "indexed" and by["mute.mp4"].records == 0
    cat = Catalog(s.catalog_path)
    try:
        assert {r.state for r in cat.all()} == {"indexed"}  # the visual channel of both: untouched
        st = ChannelStates(cat, "speech")
        assert st.get(cat.get(str(clips / "bad.mp4")).video_id).error.startswith("cannot parse bad.vtt")
    finally:
        cat.close()
    # Fixed sidecar: the failed speech pass runs again (a source change), nothing else does.
    (clips / "bad.vtt").write_text(vtt_text())
    rt = Runtime.open(s, "test")
    try:
        passes = rt.channel_passes()
        assert passes.refresh() == 1
        assert [o.state for o in passes.run_due(__import__("threading").Event())] == ["indexed"]
    finally:
        rt.close()


def test_identity_change_backfills_speech_alone_disable_hides_forget_deletes(tmp_path):
    clips = tmp_path / "clips"
    talking_clip(clips / "talk.mp4", subtitle_cues=CUES)
    env = tiny_env(tmp_path / "data")
    assert json.loads(cli(["index", str(clips), "--json"], env).stdout)["speech"]["segments"] == 2
    before = visual_rows(tmp_path / "data" / "catalog.sqlite3")
    # Another identity (the stream source dropped): speech runs again over the indexed file, alone.
    env2 = {**env, "REELFIND_CHANNELS__SPEECH__SOURCES": '["sidecar"]'}
    st = json.loads(cli(["status", "--json"], env2).stdout)["channels"]["speech"]
    assert st["pending"] == 1 and st["indexed"] == 0 and st["seconds_left"] > 0
    r = cli(["index", str(clips), "--json"], env2)
    assert json.loads(r.stdout)["speech"] == {"indexed": 1, "segments": 0, "records": 0, "failed": []}
    assert visual_rows(tmp_path / "data" / "catalog.sqlite3") == before
    # Disabled: its results are hidden, the picture still answers.
    off = {**env, "REELFIND_CHANNELS__SPEECH__ENABLED": "false"}
    r = cli(["search", "storm", "--json"], off)
    assert r.returncode == 0 and all(m["channels"] == ["seen"] for m in json.loads(r.stdout))
    r = cli(["search", "storm", "--channel", "said"], off)
    assert r.returncode == 2 and "disabled" in r.stderr
    assert "speech: disabled" in cli(["status"], off).stdout
    # Forget: every speech record and state goes; the visual index stays.
    r = cli(["forget", "--channel", "speech"], env)
    assert r.returncode == 0 and "forgot the records of 1 file(s)" in r.stderr, r.stderr
    r = cli(["search", "storm", "--channel", "said", "--json"], env)
    assert json.loads(r.stdout) == []
    assert visual_rows(tmp_path / "data" / "catalog.sqlite3") == before
    assert cli(["forget", "--channel", "visual"], env).returncode == 2


def test_deleted_file_loses_its_speech_records_moved_file_keeps_them(tmp_path):
    clips = tmp_path / "clips"
    talking_clip(clips / "a.mp4", subtitle_cues=CUES)
    talking_clip(clips / "b.mp4", subtitle_cues=[(0.1, 0.9, "river")])
    s = tiny_settings(tmp_path / "data")
    index_in_process(s, clips)
    (clips / "a.mp4").rename(clips / "moved.mp4")
    (clips / "b.mp4").unlink()
    rt = Runtime.open(s, "test")
    try:
        plan = rt.reconciler().reconcile(Root(clips))
        assert plan.moved and plan.removed
        passes = rt.channel_passes()
        assert passes.heal() == 1
        idx = passes.sink(passes.speech).index()
        assert idx.store.count() == 2
        res = idx.search("never went back")
        assert res.match == "good" and res.hits[0].video_id == rt.catalog.get(str(clips / "moved.mp4")).video_id
        assert idx.search("river").hits == []
    finally:
        rt.close()


def test_mcp_session_said_search_and_get_transcript(tmp_path):
    from mcp import Client

    from mcp_server.providers import RuntimeProvider
    from mcp_server.server import build_server
    from tests.mcp_support import check_structured

    clips = tmp_path / "clips"
    talking_clip(clips / "talk.mp4", subtitle_cues=CUES)
    s = tiny_settings(tmp_path / "data")
    index_in_process(s, clips)
    rt = Runtime.open(s, "test")

    async def main():
        async with Client(build_server(RuntimeProvider(rt), warm=False)) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            r = await c.call_tool("search_footage", {"query": "never went back", "channels": ["said"]})
            said = check_structured(tools["search_footage"], r)
            r = await c.call_tool("search_footage", {"query": "hello storm"})
            both = check_structured(tools["search_footage"], r)
            r = await c.call_tool("get_transcript", {"video": "talk.mp4", "t_from": 1.5, "t_to": 10})
            tr = check_structured(tools["get_transcript"], r)
            r = await c.call_tool("get_transcript", {"video": "talk.mp4", "t_from": 5, "t_to": 1})
            bad = r
            r = await c.call_tool("index_status", {})
            st = check_structured(tools["index_status"], r)
            r = await c.call_tool("list_videos", {})
            videos = check_structured(tools["list_videos"], r)["videos"]
            assert [v["channels"] for v in videos] == [{"visual": "indexed", "speech": "indexed", "text": "disabled",
                                                       "people": "disabled"}]
            scenes = {}
            for key, items in {"said": ["said:never went back", "said:we"], "apart": ["said:storm", "said:back"],
                               "mixed": ["a test pattern", "said:hello storm"],
                               "unsaid": ["a test pattern", "said:helicopter"]}.items():
                r = await c.call_tool("find_scenes", {"all_of": items, "threshold_z": 0.0})
                scenes[key] = check_structured(tools["find_scenes"], r)
            return said, both, tr, bad, st, scenes

    try:
        said, both, tr, bad, st, scenes = anyio.run(main)
    finally:
        rt.close()
    sc = scenes["said"]
    assert sc["match"] == "good" and len(sc["scenes"]) == 1 and sc["said"] == ["never went back", "we"]
    assert sc["scenes"][0]["said"]["never went back"]["text"] == "We never went back"
    # Said 0.3-1.4 s and 1.6-2.9 s: within merge_gap of each other, so together.
    assert len(scenes["apart"]["scenes"]) == 1
    assert scenes["mixed"]["scenes"], scenes["mixed"]["message"]
    for scene in scenes["mixed"]["scenes"]:  # seen scenes kept only where the phrase is said near them
        q = scene["said"]["hello storm"]
        assert q["text"] == "Hello storm world" and scene["start"] - 2.0 <= q["start"] <= scene["end"] + 2.0
    assert scenes["unsaid"]["scenes"] == [] and scenes["unsaid"]["match"] == "none"
    assert "'helicopter'" in scenes["unsaid"]["message"]
    assert said["match"] == "good" and said["channels"]["said"]["match"] == "good" and "seen" not in said["channels"]
    m = said["moments"][0]
    assert m["channels"] == ["said"] and m["said"]["text"] == "We never went back" and m["said"]["phrase"]
    assert m["indexed_channels"] == ["seen", "said"]
    assert set(both["channels"]) == {"seen", "said"} and both["channels"]["said"]["match"] == "good"
    assert any("said" in m["channels"] for m in both["moments"])
    assert tr["speech"] == "indexed" and [x["text"] for x in tr["segments"]] == ["We never went back"]
    assert not tr["truncated"]
    assert bad.is_error and "t_to" in bad.content[0].text
    assert st["channels"]["speech"]["indexed"] == 1 and st["channels"]["speech"]["records"] == 2


def test_copy_reuses_speech_records_without_a_new_pass_and_a_move_keeps_them(tmp_path, monkeypatch):
    """An identical copy gets the original's speech records copied (no second analysis, which for
    ASR would be a second transcription); the original moved meanwhile keeps its own."""
    import shutil

    from reelcore.channels.speech.channel import SpeechChannel

    clips = tmp_path / "clips"
    talking_clip(clips / "a.mp4", subtitle_cues=CUES)
    s = tiny_settings(tmp_path / "data")
    index_in_process(s, clips)
    shutil.copyfile(clips / "a.mp4", clips / "copy.mp4")
    (clips / "a.mp4").rename(clips / "moved.mp4")
    analysed: list[str] = []
    real = SpeechChannel.analyse
    monkeypatch.setattr(SpeechChannel, "analyse", lambda self, path, *a, **k: analysed.append(path) or
                        real(self, path, *a, **k))
    plan, _, said = index_in_process(s, clips)
    assert plan.moved and [o.state for o in said] == ["indexed"] and said[0].records == len(CUES)
    assert analysed == []  # reused, not analysed again
    rt = Runtime.open(s, "test")
    try:
        passes = rt.channel_passes()
        idx = passes.sink(passes.speech).index()
        moved, copy = (rt.catalog.get(str(clips / n)) for n in ("moved.mp4", "copy.mp4"))
        assert moved.video_id != copy.video_id
        segs = idx.store.video(copy.video_id)
        assert segs == idx.store.video(moved.video_id) and len(segs) == len(CUES)
        assert passes.states(passes.speech).get(copy.video_id).state == "indexed"
        # Both found (answers take the path from the catalog, which knows the move).
        assert {h.video_id for h in idx.search("never went back").hits} == {moved.video_id, copy.video_id}
    finally:
        rt.close()
    # A copy whose sidecar differs is analysed (its inputs are not the same).
    shutil.copyfile(clips / "moved.mp4", clips / "other.mp4")
    (clips / "other.srt").write_text(srt_text([(0.1, 0.9, "another line")]))
    _, _, said = index_in_process(s, clips)
    assert analysed == [str(clips / "other.mp4")] and said[0].records == len(CUES) + 1


def test_default_sources_offline_index_pictures_and_subtitles_and_say_why_asr_waits(tmp_path):
    """The defaults (ASR on, model "base") on a machine without internet: `reelfind index` indexes
    every picture and the subtitled file's speech; the file that needs ASR waits, and the summary
    says why."""
    from reelcore.config import SpeechSettings

    assert "asr" in SpeechSettings().sources
    clips = tmp_path / "clips"
    talking_clip(clips / "a_talk.mp4")
    talking_clip(clips / "b_subs.mp4", subtitle_cues=CUES, say="something else")
    env = tiny_env(tmp_path / "data")
    del env["REELFIND_CHANNELS__SPEECH__SOURCES"]  # the shipped default
    r = cli(["index", str(clips), "--json"], env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 2 and summary["failed"] == []
    assert summary["speech"]["indexed"] == 1 and summary["speech"]["failed"] == []
    assert "cannot load the speech model 'base'" in summary["speech"]["unavailable"]
    db = sqlite3.connect(tmp_path / "data" / "catalog.sqlite3")
    try:
        rows = dict(db.execute("SELECT f.path, c.state FROM files f JOIN channel_files c USING (video_id)"))
    finally:
        db.close()
    assert rows == {str(clips / "a_talk.mp4"): "pending", str(clips / "b_subs.mp4"): "indexed"}
