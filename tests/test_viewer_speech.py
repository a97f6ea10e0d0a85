"""What is said, in the viewer, for a real user: a real `reelfind serve` (tiny CLIP model, token set)
over a talking clip (espeak-ng audio) with a subtitle sidecar, driven in a real headless Chromium,
as the browser page and as the MCP App (the `ui://` resource in a test host over a real MCP
session). Search a phrase: the said moment's card says 'said' with its quote; selecting it shows
its transcript lines with the query's words marked; a click on a line plays from there; the heat
strip marks where the phrase is said; the index page shows each channel's progress."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.mcp_support import http_client
from tests.speech_support import have_tools, srt_text, talking_clip
from tests.test_viewer_mcp_app import APP_CSP, HOST_JS, Host, _wire
from tests.viewer_support import Served, chrome, console_errors, screenshot, serving, wait_js

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not have_tools(), reason="needs ffmpeg and espeak-ng")]

CUES = [(0.5, 2.0, "Hello storm world"), (3.0, 4.5, "We never went back"),
        (6.0, 7.5, "The river rose at night"), (9.0, 10.5, "Nothing more to say today")]
QUERY = "never went back"
SAID_MARK = (0, 229, 255)  # transcript.js SAID_MARK


def _ready(st: dict[str, Any]) -> bool:
    """The clip indexed by picture and by speech, and the model loaded."""
    return st["counts"]["indexed"] == 1 and st["channels"]["speech"]["indexed"] == 1 and bool(st.get("model_loaded"))


@contextmanager
def serve_talking(base: Path) -> Iterator[Served]:
    data = Path(tempfile.mkdtemp(prefix="viewer-speech-", dir=base))
    root = data / "footage"
    talking_clip(root / "talk.mp4", say="hello storm world. we never went back. the river rose at night.",
                 seconds=12.0)
    (root / "talk.srt").write_text(srt_text(CUES))
    with serving(data / "data", [{"path": str(root), "stable_seconds": 0.5}], root, _ready,
                 "the talking clip indexed by picture and speech", timeout=180) as served:
        yield served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_talking(tmp_path_factory.getbasetemp()) as s:
        yield s


# JS run in the viewer's document: the pixel at the said mark of the strip of `video_id`
# (x of each time in state.saidMarks, 3 px above the strip's bottom edge).
STRIP_PIXELS = """
const vid = arguments[0];
const c = document.querySelector(`.tl[data-video-id="${vid}"] canvas[data-drawn]`);
const tl = window.reelfindViewer.timelines.get(vid);
const marks = (window.reelfindViewer.saidMarks || {})[vid];
if (!c || !tl || !marks || !marks.length) return null;
const g = c.getContext('2d'), bot = c.height - 4;
return marks.map((t) => [t, ...g.getImageData(Math.round(t / tl.duration * c.width), bot - 3, 1, 1).data.slice(0, 3)]);
"""
TRANSCRIPT = ("const b = document.getElementById('transcript');"
              "return b && b.dataset.state === 'ready' && [...b.querySelectorAll('.line')].map(l => "
              "[+l.dataset.start, l.querySelector('span').textContent, [...l.querySelectorAll('mark')]"
              ".map(x => x.textContent), l.classList.contains('in')])")


def _said_index(moments: list[dict[str, Any]]) -> int:
    return next(k for k, m in enumerate(moments) if "said" in m.get("channels", []))


def _said_only_search(driver: Any) -> None:
    """In the viewer's document: choose 'said only' and search the query again."""
    driver.execute_script("const p = document.getElementById('channels');"
                          "p.value = 'said'; p.dispatchEvent(new Event('change'));"
                          "document.getElementById('cards').replaceChildren();"
                          "document.getElementById('q').value = arguments[0];"
                          "document.getElementById('go').click()", QUERY)


def test_api_search_and_transcript_routes(served: Served) -> None:
    """The page's JSON: fused search by default, `channels` passed through, a bounded transcript
    span behind the same guard."""
    fused = served.get("/api/search", params={"q": QUERY}).json()
    assert set(fused["channels"]) == {"seen", "said"}, fused
    m = fused["moments"][_said_index(fused["moments"])]
    assert m["said"]["text"] == "We never went back" and m["thumb_url"].startswith(f"/frame/{m['video_id']}")
    said = served.get("/api/search", params={"q": QUERY, "channels": "said"}).json()
    assert list(said["channels"]) == ["said"] and all(x["channels"] == ["said"] for x in said["moments"])
    seen = served.get("/api/search", params={"q": QUERY, "channels": "seen"}).json()
    assert all(x.get("said") is None for x in seen["moments"])
    bad = served.get("/api/search", params={"q": QUERY, "channels": "smell"})
    assert bad.status_code == 400 and "unknown channel" in bad.json()["error"]
    vid = m["video_id"]
    tr = served.get("/api/transcript", params={"video": vid, "from": 2, "to": 8}).json()
    assert [s["text"] for s in tr["segments"]] == ["We never went back", "The river rose at night"]
    assert tr["speech"] == "indexed" and tr["segments"][0]["source"].startswith("sidecar")
    assert served.get("/api/transcript", params={"video": vid}, auth=False).status_code == 401
    for params, why in (({"video": vid, "from": 0, "to": 601}, "at most 600"),
                        ({"video": "/etc/passwd"}, "no indexed video"),
                        ({"video": "0123456789abcdef"}, "no indexed video"),
                        ({"video": vid, "from": "x"}, "must be a number"),
                        ({"video": vid, "from": 5, "to": 4}, "must be later")):
        r = served.get("/api/transcript", params=params)
        assert r.status_code == 400 and why in r.json()["error"], (params, r.text)


def test_browser_said_moment_transcript_seek_strip_and_index(served: Served) -> None:
    api = served.get("/api/search", params={"q": QUERY, "limit": 12}).json()
    k = _said_index(api["moments"])
    m = api["moments"][k]
    with chrome() as driver:
        driver.get(f"{served.base}/#token={served.token}")
        box = wait_js(driver, "return document.getElementById('channels') && document.getElementById('q')", 20,
                      "the search box and the channel choice")
        box.send_keys(QUERY + "\n")
        wait_js(driver, "return document.querySelectorAll('#cards .card').length === arguments[0]", 60,
                "the cards", len(api["moments"]))
        card = driver.execute_script(
            "const c = document.querySelectorAll('#cards .card')[arguments[0]]; return [c.dataset.channels, "
            "[...c.querySelectorAll('.chan')].map(x => x.textContent), c.querySelector('.quote').textContent, "
            "[...c.querySelectorAll('.quote mark')].map(x => x.textContent)]", k)
        assert card[0] == " ".join(m["channels"]) and card[1] == m["channels"]
        assert card[2] == "“We never went back”" and card[3] == ["never", "went", "back"]
        # Select the said moment: its transcript, the matched words marked, its own line flagged.
        driver.find_elements("css selector", "#cards .card")[k].click()
        lines = wait_js(driver, TRANSCRIPT, 60, "the transcript lines")
        assert [(s, t) for s, t, _, _ in lines] == [(a, t) for a, _, t in CUES
                                                    if a < m["end"] + 5 and a + 1.5 > m["start"] - 5]
        own = next(ln for ln in lines if ln[1] == "We never went back")
        assert own[2] == ["never", "went", "back"] and own[3]
        assert all(not ln[2] for ln in lines if ln is not own)
        assert driver.execute_script("return [...document.getElementById('transcript').children]"
                                     ".map(c => c.tagName).join(' ')") == "H3 OL"  # nothing else in it
        wait_js(driver, "const v = document.getElementById('video'); return v.readyState >= 2 && !v.paused"
                        " && v.currentTime > 0", 60, "the video to play")
        # A click on a line plays from there: the video seeks to the line's time in the original file.
        target = max(lines, key=lambda ln: abs(ln[0] - m["start"]))
        assert abs(driver.execute_script("return document.getElementById('video').currentTime") - target[0]) > 2
        driver.execute_script("const v = document.getElementById('video'); window.seeks = [];"
                              "v.addEventListener('seeked', () => seeks.push(v.currentTime))")
        driver.execute_script("[...document.querySelectorAll('#transcript .line')].find(l => +l.dataset.start"
                              " === arguments[0]).click()", target[0])
        seeked = wait_js(driver, "return window.seeks.length && window.seeks", 30, "the seek")
        assert seeked[-1] == pytest.approx(target[0], abs=0.05)
        wait_js(driver, "const v = document.getElementById('video'); return !v.paused && v.currentTime > arguments[0]",
                30, "playing on from the line", target[0])
        assert driver.execute_script("return document.querySelector('#transcript .line[aria-current=\"true\"]')"
                                     ".dataset.start") == str(target[0]).rstrip("0").rstrip(".")
        # The heat strip marks where the phrase is said: the mark colour at each matched word's time.
        pixels = wait_js(driver, STRIP_PIXELS, 60, "the said marks on the strip", m["video_id"])
        assert [round(p[0], 1) for p in pixels] == [round(w["start"], 1) for w in m["said"]["words"]]
        assert all(tuple(p[1:]) == SAID_MARK for p in pixels), pixels
        screenshot(driver, "viewer-speech", full_page=True)
        # The index page: one line per channel of /status.
        driver.execute_script("location.hash = '#index'")
        line = wait_js(driver, "const li = document.querySelector('#channelprogress li[data-channel=\"speech\"]');"
                               "return li && li.textContent", 30, "the speech progress line")
        assert line == "speech: 1/1 files"
        st = served.get("/status").json()
        shown = driver.execute_script("return [...document.querySelectorAll('#channelprogress li')]"
                                      ".map(li => li.dataset.channel)")
        assert shown == [n for n in st["channels"] if n != "visual"]
        # 'said only' in the form: the page asks the service for that channel alone.
        driver.execute_script("location.hash = '#search'")
        _said_only_search(driver)
        said = served.get("/api/search", params={"q": QUERY, "channels": "said"}).json()
        wait_js(driver, "const c = [...document.querySelectorAll('#cards .card')]; return c.length === arguments[0]"
                        " && c.every(x => x.dataset.channels === 'said')", 60, "said-only cards", len(said["moments"]))
        errors = console_errors(driver)
        assert not errors, errors


def test_mcp_app_said_moment_transcript_seek_and_strip(served: Served) -> None:
    async def main() -> None:
        async with http_client(served.mcp_url, served.token) as client:
            html = (await client.read_resource("ui://reelfind/viewer.html")).contents[0].text
            args = {"query": QUERY, "limit": 8, "channels": ["seen", "said"]}
            result = await client.call_tool("search_footage", args)
            out = result.structured_content
            k = _said_index(out["moments"])
            m = out["moments"][k]
            with chrome(1000, 1400) as driver:
                driver.get("about:blank")
                driver.execute_script(HOST_JS, html, args, _wire(result), 440, APP_CSP)
                host = Host(driver, client)
                await host.pump_until(f"return document.querySelectorAll('#cards .card').length === "
                                      f"{len(out['moments'])}", 60, "the cards")
                quote = await host.pump_until(
                    f"const c = document.querySelectorAll('#cards .card')[{k}]; const q = c.querySelector('.quote');"
                    "return q && [c.dataset.channels, [...q.querySelectorAll('mark')].map(x => x.textContent)]",
                    30, "the said card")
                assert quote == [" ".join(m["channels"]), ["never", "went", "back"]]
                driver.switch_to.frame(driver.find_element("css selector", "iframe"))
                driver.find_elements("css selector", "#cards .card")[k].click()
                driver.switch_to.default_content()
                lines = await host.pump_until(TRANSCRIPT, 60, "the transcript (get_transcript through the host)")
                own = next(ln for ln in lines if ln[1] == "We never went back")
                assert own[2] == ["never", "went", "back"] and own[3]
                # The preview clip plays from the moment's start; a click on the moment's line seeks
                # the clip to that line (clip time = footage time - moment start).
                await host.pump_until("const v = document.getElementById('video'); return v.readyState >= 2 && "
                                      "v.currentTime > 0.3", 120, "the preview clip to play on")
                driver.switch_to.frame(driver.find_element("css selector", "iframe"))
                driver.execute_script("const v = document.getElementById('video'); window.seeks = [];"
                                      "v.addEventListener('seeked', () => seeks.push(v.currentTime));"
                                      "[...document.querySelectorAll('#transcript .line')].find(l => +l.dataset.start"
                                      " === arguments[0]).click()", own[0])
                driver.switch_to.default_content()
                seeked = await host.pump_until("return window.seeks.length && window.seeks", 30, "the seek")
                assert seeked[-1] == pytest.approx(max(0.0, own[0] - m["start"]), abs=0.05)
                pixels = await host.pump_until(STRIP_PIXELS.replace("arguments[0]", json.dumps(m["video_id"])), 60,
                                               "the said marks (score_timeline through the host)")
                assert all(tuple(p[1:]) == SAID_MARK for p in pixels), pixels
                # A line outside the preview clip: it becomes the selected moment, with a clip of its own.
                far = max(lines, key=lambda ln: ln[0])
                assert far[0] >= m["end"]
                driver.switch_to.frame(driver.find_element("css selector", "iframe"))
                driver.execute_script("[...document.querySelectorAll('#transcript .line')].find(l => +l.dataset.start"
                                      " === arguments[0]).click()", far[0])
                driver.switch_to.default_content()
                title = await host.pump_until(
                    "const v = document.getElementById('video'); const t = document.getElementById('transcript');"
                    "return v.readyState >= 2 && v.currentTime > 0 && t.dataset.state === 'ready' && "
                    "[document.getElementById('detail-title').textContent, "
                    "[...t.querySelectorAll('.line.in')].map(l => +l.dataset.start)]", 120, "the line's own clip")
                assert title == ["talk.mp4 · 0:00:09–0:00:10", [far[0]]], title
                assert host.calls.count("preview_clip") == 2, host.calls
                # 'said only' in the app's form: its search_footage call through the host asks for it.
                said = await client.call_tool("search_footage", {"query": QUERY, "channels": ["said"]})
                driver.switch_to.frame(driver.find_element("css selector", "iframe"))
                _said_only_search(driver)
                driver.switch_to.default_content()
                n = len(said.structured_content["moments"])
                await host.pump_until(f"const c = [...document.querySelectorAll('#cards .card')]; return c.length"
                                      f" === {n} && c.every(x => x.dataset.channels === 'said')", 60,
                                      "said-only cards (the app's own search_footage call)")
                assert {"get_transcript", "score_timeline", "preview_clip"} <= set(host.calls), host.calls
                errors = console_errors(driver)
                assert not errors, errors
                driver.execute_script("window.scrollTo(0, 0)")
                screenshot(driver, "viewer-speech-mcp-app", full_page=True)

    anyio.run(main)
