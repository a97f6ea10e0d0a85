"""Exports through every face: `reelfind search --export` and `reelfind export` (real CLI
subprocesses), the MCP tool `export_moments` (a real client session, in memory and over the
service's HTTP app, whose download link must give the same file) and the viewer's /api/export.
The index holds ffmpeg-made clips with known start timecodes, indexed with the tiny model."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import opentimelineio as otio
import pytest
from mcp import Client

from mcp_server.providers import RuntimeProvider
from mcp_server.server import build_server
from reelcore.config import Settings
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from reelcore.storage.catalog import Catalog
from tests.conftest import tiny_env, tiny_settings
from tests.export_support import MEDIA, expected_frames, make_media, parse_edl, total_frames
from tests.mcp_support import QueryOnlyFace, free_port

pytestmark = pytest.mark.slow
BY_NAME = {m.filename: m for m in MEDIA}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = tmp_path_factory.mktemp("export faces")
    footage = base / "Fußnoten footage"
    footage.mkdir()
    for m in MEDIA:
        make_media(footage, m)
    s = tiny_settings(base / "data", roots=[{"path": str(footage)}])
    rt = Runtime.open(s, "test")
    try:
        plan = rt.reconciler().reconcile(Root(footage))
        outcomes = [rt.indexer().index(r) for r in plan.todo]
        assert [o.state for o in outcomes] == ["indexed"] * len(MEDIA), outcomes
    finally:
        rt.close()
    return s


def _ids(s: Settings) -> dict[str, str]:
    cat = Catalog(s.catalog_path)
    try:
        return {Path(r.path).name: r.video_id for r in cat.all("indexed")}
    finally:
        cat.close()


def _cli(s: Settings, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("reelfind")
    return subprocess.run([str(exe), *args], env={**tiny_env(s.data_dir), "COLUMNS": "200"}, capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def _check_edl_against(moments: list[dict], text: str) -> None:
    edl = parse_edl(text)
    assert len(edl.events) == len(moments) > 0
    for ev, mo in zip(edl.events, moments, strict=True):
        m = BY_NAME[Path(mo["path"]).name]
        a, b = expected_frames(m, mo["start"], mo["end"])
        tc = tuple(otio.opentime.to_timecode(otio.opentime.RationalTime(f, float(m.rate)), float(m.rate), m.drop)
                   for f in (a, b))
        assert (ev.src_in, ev.src_out) == tc, (mo, ev)
        assert f"* FROM CLIP NAME:  {m.filename}" in ev.comments


def test_cli_search_export_and_export_command(indexed: Settings, tmp_path: Path) -> None:
    out_dir = tmp_path / "für den Schnitt"
    out_dir.mkdir()
    edl_path = out_dir / "Auswahl 1.edl"
    r = _cli(indexed, "search", "a colour test pattern", "-n", "4", "--json", "--export", str(edl_path))
    assert r.returncode == 0, r.stderr
    moments = json.loads(r.stdout)
    assert f"wrote {edl_path}" in r.stderr.replace("\n", "") and "moment(s)" in r.stderr
    _check_edl_against(moments, edl_path.read_text())

    # scenes (all_of): whatever it finds, a valid FCPXML with a message
    fx = out_dir / "scenes.fcpxml"
    r = _cli(indexed, "export", str(fx), "--all-of", "test pattern", "--all-of", "colour bars", "--threshold-z", "0")
    assert r.returncode == 0, r.stderr
    assert ET.fromstring(fx.read_text()).get("version") == "1.9" and "wrote" in r.stderr

    # a timeline's peaks of one video
    peaks = out_dir / "peaks.otio"
    r = _cli(indexed, "export", str(peaks), "--video", "no timecode.mp4", "-q", "a test pattern", "--peaks", "2")
    assert r.returncode == 0, r.stderr
    clips = list(otio.adapters.read_from_file(str(peaks)).find_clips())
    assert clips and all(c.name == "no timecode.mp4" for c in clips)

    # a hand-picked selection, one moment running past the clip's end (out = the clip's last frame)
    ids = _ids(indexed)
    m = BY_NAME["Ärger ntsc 29.97 DF.mp4"]
    sel = out_dir / "sel.csv"
    r = _cli(indexed, "export", str(sel), "--moment", f"{ids[m.filename]}@1.5-9", "--moment",
             "pal 25 fps.mov@0.5-1.2", "--label", "picked")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(sel.read_text(encoding="utf-8"))))
    a, b = expected_frames(m, 1.5, 9)
    assert b - a == total_frames(m) - 44  # 1.5 s at 29.97 = frame 44.96 -> 44, out at the last frame
    assert (rows[0]["source_in"], rows[0]["source_out"]) == ("01:00:01;14", "01:00:02;00")
    assert rows[0]["name"] == "picked" and rows[1]["reel"] == "A001C003"

    # bad input: one clear error, exit 2, nothing written
    for args, msg in [(("export", str(out_dir / "x.txt"), "-q", "x"), "cannot tell the export format"),
                      (("export", str(out_dir / "y.edl"), "--moment", "nope"), "VIDEO@START-END"),
                      (("export", str(out_dir / "z.edl"), "--moment", "ffffffffffffffff@1-2"), "no indexed video")]:
        r = _cli(indexed, *args)
        assert r.returncode == 2 and msg in r.stderr, r.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["Auswahl 1.edl", "peaks.otio", "scenes.fcpxml", "sel.csv"]


def _call(server, args: dict):
    async def main():
        async with Client(server) as c:
            return await c.call_tool("export_moments", args)

    return anyio.run(main)


def test_mcp_export_moments_returns_the_file_as_an_embedded_resource(indexed: Settings) -> None:
    rt = Runtime.open(indexed, "test")
    try:
        server = build_server(RuntimeProvider(rt), warm=False)
        ids = _ids(indexed)
        m = BY_NAME["film 23.976.mov"]
        r = _call(server, {"format": "edl", "moments": [{"video": ids[m.filename], "start": 0.5, "end": 1.2},
                                                        {"video": m.filename, "start": 1.9, "end": 2.0}]})
        assert not r.is_error, r.content[0].text
        out = r.structured_content
        assert out["moments"] == 2 and out["download_url"] is None and out["filename"].endswith(".edl")
        res = r.content[1].resource
        assert r.content[1].type == "resource" and res.mime_type == "text/plain" and str(res.uri) == out["resource_uri"]
        _check_edl_against([{"path": m.filename, "start": 0.5, "end": 1.2},
                            {"path": m.filename, "start": 1.9, "end": 2.0}], res.text)

        found = _call(server, {"format": "fcp7", "query": "a colour test pattern", "limit": 3})
        n = found.structured_content["moments"]
        assert not found.is_error and n >= 1
        assert len(list(otio.adapters.read_from_string(found.content[1].resource.text, "fcp_xml").find_clips())) == n

        for args, msg in [({"format": "edl"}, "give a query"),
                          ({"format": "edl", "query": "x", "moments": [{"video": "a", "start": 0, "end": 1}]},
                           "not both"),
                          ({"format": "aaf", "query": "x"}, "format"),
                          ({"format": "csv", "moments": [{"video": "ffffffffffffffff", "start": 0, "end": 1}]},
                           "no indexed video")]:
            bad = _call(server, args)
            assert bad.is_error and msg in bad.content[0].text, bad.content[0].text
    finally:
        rt.close()


@contextlib.contextmanager
def _service(settings: Settings, provider: RuntimeProvider) -> Iterator[str]:
    """The service's HTTP app with the MCP app and the viewer's routes (as `reelfind serve` builds it)."""
    from daemon.app import build_app
    from daemon.http_server import HttpServer
    from daemon.web import viewer_routes
    from mcp_server.server import http_app

    server = HttpServer(build_app(QueryOnlyFace(settings, provider), http_app(settings, provider),
                                  extra_routes=viewer_routes(provider.search_service, settings)),
                        settings.server.host, settings.server.port)
    assert server.start(20), "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_download_link_over_http_gives_the_same_file(indexed: Settings) -> None:
    from tests.mcp_support import http_client

    s = indexed.model_copy(update={"server": indexed.server.model_copy(update={"port": free_port()})})
    rt = Runtime.open(s, "test")
    try:
        with _service(s, RuntimeProvider(rt)) as base:
            async def main():
                async with http_client(base + "/mcp", None) as c:
                    return await c.call_tool("export_moments", {"format": "csv", "query": "a colour test pattern",
                                                                "limit": 2})

            r = anyio.run(main)
            assert not r.is_error, r.content[0].text
            link = r.structured_content["download_url"]
            assert link and link.startswith(base + "/api/export?")
            got = httpx.get(link, timeout=60)
            assert got.status_code == 200 and got.text == r.content[1].resource.text
            assert "attachment" in got.headers["content-disposition"] and got.headers["x-reelfind-moments"] == str(
                r.structured_content["moments"])
            ids = _ids(s)
            name = "Ärger ntsc 29.97 DF.mp4"
            sel = httpx.get(base + "/api/export", params=[("format", "fcpxml"), ("moment", f"{ids[name]}@0-1")],
                            timeout=60)
            assert sel.status_code == 200 and "filename*=UTF-8''reelfind_selection.fcpxml" in \
                sel.headers["content-disposition"]
            asset = ET.fromstring(sel.text).find("./resources/asset")
            assert asset.get("start") == "8999991/2500s"  # 01:00:00;00 at 29.97 DF = 107892 frames
            bad = httpx.get(base + "/api/export", params={"format": "edl", "moment": "x@1-2"}, timeout=60)
            assert bad.status_code == 400 and "no indexed video" in bad.json()["error"]
    finally:
        rt.close()


