"""The text channel end to end, real parts: a clip with a slate ("SCENE 42 TAKE 3") and a lower
third rendered into H.264 (tests/textvideo.py), `reelfind index` as a subprocess with the text
channel on (real RapidOCR weights from its wheel, tiny CLIP model), then found by
`reelfind search --channel written`, by a real MCP client session, and by a second machine through
one real `chroma run` server. A deleted file loses its lines; disabling hides them; forget deletes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading

import anyio
import pytest

from reelcore.channels.fuse import search_channels
from reelcore.ingest.discovery import Root
from reelcore.query.search import SearchService
from reelcore.runtime import Runtime
from tests.conftest import REPO, tiny_env, tiny_settings
from tests.store_support import chroma_server
from tests.textvideo import render, slate_and_lower_third

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)

REELFIND = [sys.executable, "-m", "reelfind.cli"]
TEXT_ON = {"REELFIND_CHANNELS__TEXT__ENABLED": "true"}


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(REELFIND + args, env=env, capture_output=True, text=True, timeout=240, cwd=REPO)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    clip = slate_and_lower_third()
    return clip, render(clip, tmp_path_factory.mktemp("textclip") / "slate.mp4")


@pytest.fixture(scope="module")
def indexed(clip, tmp_path_factory):
    """Two files with the same text (the slate clip and a copy re-encoded: another video id), indexed
    by the CLI with the text channel on."""
    base = tmp_path_factory.mktemp("texte2e")
    clips = base / "clips"
    clips.mkdir()
    shutil.copy(clip[1], clips / "slate.mp4")
    again = slate_and_lower_third()
    again.bitrate = 2_000_000
    render(again, clips / "take2.mp4")
    env = tiny_env(base / "data", **TEXT_ON)
    r = cli(["index", str(clips), "--json"], env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 2 and summary["channels"]["text"]["indexed"] == 2 and (
        summary["channels"]["text"]["records"] >= 4), summary
    return clip[0], clips, env


def test_cli_finds_the_slate_and_the_name_and_numbers_matter(indexed):
    card, clips, env = indexed
    slate, lower = card.cards
    r = cli(["search", "scene 42 take 3", "--channel", "written", "--json"], env)
    assert r.returncode == 0, r.stderr
    moments = json.loads(r.stdout)
    assert "good match" in r.stderr and "is on screen" in r.stderr, r.stderr
    assert {m["path"].rsplit("/", 1)[-1] for m in moments} == {"slate.mp4", "take2.mp4"}
    for m in moments:
        w = m["written"]
        assert m["channels"] == ["written"] and "SCENE 42 TAKE 3" in w["text"].upper()
        assert abs(w["start"] - slate.start) <= 1.0 and abs(w["end"] - slate.end) <= 1.0
        assert m["start"] == w["start"] and w["confidence"] >= 0.8
        x0, y0, x1, y1 = w["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 and abs(y0 - slate.y) < 0.05 and abs(x0 - slate.x) < 0.05
    # The lower third's name, another case, a letter missing.
    r = cli(["search", "maria lopez hydrologst", "--channel", "written", "--json"], env)
    found = json.loads(r.stdout)
    assert found and all("HYDROLOGIST" in m["written"]["text"].upper() for m in found), r.stdout
    assert abs(found[0]["written"]["start"] - lower.start) <= 1.0
    # Numbers matter: scene 24 is not on screen, and the verdict says so.
    r = cli(["search", "scene 24", "--channel", "written", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout
    assert "NO GOOD MATCH" in r.stderr and "not found in the on-screen text of 2 file(s)" in r.stderr, r.stderr
    # Default fusion includes written when the channel is on; the table shows the line.
    r = cli(["search", "scene 42 take 3"], env)
    assert r.returncode == 0 and "written" in r.stdout and "SCENE 42 TAKE 3" in r.stdout.upper(), r.stdout
    st = json.loads(cli(["status", "--json"], env).stdout)["channels"]["text"]
    assert st["indexed"] == 2 and st["pending"] == 0


def test_mcp_session_finds_written_moments(indexed, tmp_path):
    from mcp import Client

    from mcp_server.providers import RuntimeProvider
    from mcp_server.server import build_server
    from tests.mcp_support import check_structured

    _, _, env = indexed
    s = tiny_settings(env["REELFIND_DATA_DIR"], channels={"text": {"enabled": True}})
    rt = Runtime.open(s, "test")

    async def main():
        async with Client(build_server(RuntimeProvider(rt), warm=False)) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            out = {}
            for q in ("the slate for scene 42 take 3", "scene 42 take 3", "Maria Lopez", "scene 24"):
                r = await c.call_tool("search_footage", {"query": q, "channels": ["written"]})
                out[q] = check_structured(tools["search_footage"], r)
            return out

    try:
        out = anyio.run(main)
    finally:
        rt.close()
    good = out["scene 42 take 3"]
    assert good["match"] == "good" and list(good["channels"]) == ["written"]
    m = good["moments"][0]
    assert m["channels"] == ["written"] and "SCENE 42 TAKE 3" in m["written"]["text"].upper()
    assert len(m["written"]["box"]) == 4 and "written" in m["indexed_channels"]
    # "the slate for" is not on the slate: the slate is found, but honestly only as weak.
    asked = out["the slate for scene 42 take 3"]
    assert asked["match"] == "weak" and "SCENE 42" in asked["moments"][0]["written"]["text"].upper()
    assert out["Maria Lopez"]["match"] == "good"
    assert "LOPEZ" in out["Maria Lopez"]["moments"][0]["written"]["text"].upper()
    assert out["scene 24"]["match"] == "none" and out["scene 24"]["moments"] == []


def test_a_second_machine_finds_the_lines_through_a_shared_chroma_server(clip, tmp_path):
    with chroma_server(tmp_path / "server") as url:
        a = tiny_settings(tmp_path / "data-a", store={"url": url}, channels={"text": {"enabled": True}})
        b = tiny_settings(tmp_path / "data-b", store={"url": url}, channels={"text": {"enabled": True}})
        (tmp_path / "footage").mkdir()
        shutil.copy(clip[1], tmp_path / "footage" / "slate.mp4")
        rt = Runtime.open(a, "test")
        try:
            for rec in rt.reconciler().reconcile(Root(tmp_path / "footage")).todo:
                assert rt.indexer().index(rec).state == "indexed"
            outs = rt.channel_passes().run_due(threading.Event())
            assert [(o.channel, o.state) for o in outs if o.channel == "text"] == [("text", "indexed")]
        finally:
            rt.close()
        rt = Runtime.open(b, "test")  # B has no files of its own
        try:
            out = search_channels(SearchService(b, rt.catalog, rt.store, rt.embedder, rt.thumbs), "scene 42 take 3",
                                  ["written"])
        finally:
            rt.close()
        assert out.match == "good" and out.moments[0].path == str(tmp_path / "footage" / "slate.mp4")


def test_deleted_file_loses_its_lines_disabled_hides_forget_deletes(indexed):
    _, clips, env = indexed
    (clips / "take2.mp4").unlink()
    r = cli(["index", str(clips), "--json"], env)
    assert r.returncode == 0, r.stderr
    moments = json.loads(cli(["search", "scene 42 take 3", "--channel", "written", "--json"], env).stdout)
    assert [m["path"].rsplit("/", 1)[-1] for m in moments] == ["slate.mp4"]
    # Disabled: its results are hidden, the picture still answers.
    off = {**env, "REELFIND_CHANNELS__TEXT__ENABLED": "false"}
    r = cli(["search", "scene 42 take 3", "--json"], off)
    assert r.returncode == 0 and all(m["channels"] == ["seen"] for m in json.loads(r.stdout))
    r = cli(["search", "scene 42", "--channel", "written"], off)
    assert r.returncode == 2 and "disabled" in r.stderr
    # Forget: every line and state goes.
    r = cli(["forget", "--channel", "text"], env)
    assert r.returncode == 0 and "forgot the records of 1 file(s)" in r.stderr, r.stderr
    r = cli(["search", "scene 42 take 3", "--channel", "written", "--json"], env)
    assert json.loads(r.stdout) == [] and "not found in the on-screen text of 0 file(s)" in r.stderr, r.stderr
