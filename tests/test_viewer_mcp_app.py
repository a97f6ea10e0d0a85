"""The viewer as an MCP App: its `ui://` HTML, read from a real `reelfind serve` over a real MCP
client session, runs in Chromium inside a small test host page that speaks the MCP Apps protocol
(ui/initialize, tool-input and tool-result notifications, size changes) and answers the app's
tools/call requests through that same MCP session. The app renders a real search_footage result
and plays a preview clip, with no network of its own (the host's CSP allows data: only)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from mcp_server.apps import VIEWER_URI
from tests.mcp_support import http_client
from tests.viewer_support import Served, chrome, console_errors, screenshot, serve_footage

pytestmark = pytest.mark.slow

QUERY = "an animated rabbit"
UI_TOOLS = {"search_footage", "find_scenes", "score_timeline", "similar_moments", "search_by_image"}
# What a host's sandbox proxy enforces when a resource declares no CSP domains: nothing external.
APP_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
           "media-src data:; connect-src 'none'")

HOST_JS = """
const [html, toolArgs, toolResult, width] = arguments;
document.body.style.margin = '0';
document.body.style.background = '#0d0e11';
const col = document.createElement('div');
col.style.cssText = `width:${width}px;margin:0 auto;font:14px system-ui;color:#ccc`;
col.innerHTML = '<p style="margin:8px">You: find an animated rabbit</p>';
const f = document.createElement('iframe');
f.setAttribute('sandbox', 'allow-scripts');
f.style.cssText = 'width:100%;height:300px;border:1px solid #333;border-radius:8px;display:block';
window.host = { outbox: [], log: [], initialized: false, sizes: [] };
const send = (m) => f.contentWindow.postMessage({ jsonrpc: '2.0', ...m }, '*');
window.hostReply = (id, result, error) =>
  send(error ? { id, error: { code: -32000, message: error } } : { id, result });
window.addEventListener('message', (e) => {
  if (e.source !== f.contentWindow) return;
  const m = e.data;
  host.log.push(m.method || `response:${m.id}`);
  if (m.method === 'ui/initialize') {
    send({ id: m.id, result: { protocolVersion: '2026-01-26', hostInfo: { name: 'reelfind-test-host', version: '1' },
      hostCapabilities: { serverTools: {}, serverResources: {} },
      hostContext: { theme: 'dark', displayMode: 'inline', containerDimensions: { width, maxHeight: 4000 },
        toolInfo: { tool: { name: 'search_footage' } } } } });
  } else if (m.method === 'ui/notifications/initialized') {
    host.initialized = true;
    send({ method: 'ui/notifications/tool-input', params: { arguments: toolArgs } });
    send({ method: 'ui/notifications/tool-result', params: toolResult });
  } else if (m.method === 'ui/notifications/size-changed') {
    host.sizes.push(m.params);
    f.style.height = `${Math.ceil(m.params.height) + 2}px`;
  } else if (m.method === 'tools/call' || m.method === 'resources/read') {
    host.outbox.push(m);
  } else if (m.id !== undefined) {
    send({ id: m.id, error: { code: -32601, message: 'not supported by the test host' } });
  }
});
f.srcdoc = html.replace('<head>', `<head><meta http-equiv="Content-Security-Policy" content="${arguments[4]}">`);
col.append(f);
document.body.append(col);
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_footage(tmp_path_factory.getbasetemp()) as s:
        yield s


def _wire(result: Any) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


class Host:
    """The Python half of the test host: the MCP session, and a pump that answers the app's calls."""

    def __init__(self, driver: Any, client: Any) -> None:
        self.driver = driver
        self.client = client
        self.calls: list[str] = []

    async def pump_until(self, script: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.driver.switch_to.default_content()
            for m in self.driver.execute_script("return host.outbox.splice(0)"):
                await self.answer(m)
            frame = self.driver.find_element("css selector", "iframe")
            self.driver.switch_to.frame(frame)
            value = self.driver.execute_script(script)
            self.driver.switch_to.default_content()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}; calls: {self.calls}")
            await anyio.sleep(0.05)

    async def answer(self, m: dict[str, Any]) -> None:
        try:
            if m["method"] == "tools/call":
                self.calls.append(m["params"]["name"])
                res = await self.client.call_tool(m["params"]["name"], m["params"].get("arguments") or {})
            else:
                res = await self.client.read_resource(m["params"]["uri"])
            self.driver.execute_script("hostReply(arguments[0], arguments[1])", m["id"], _wire(res))
        except Exception as e:  # the app must see the failure as a JSON-RPC error
            self.driver.execute_script("hostReply(arguments[0], null, arguments[1])", m["id"], str(e))


def test_mcp_app_renders_search_result_and_plays_preview(served: Served) -> None:
    async def main() -> None:
        async with http_client(served.mcp_url, served.token) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            for name in UI_TOOLS:
                assert (tools[name].meta or {}).get("ui", {}).get("resourceUri") == VIEWER_URI, name
            assert tools["preview_clip"].meta["ui"]["visibility"] == ["app"]
            res = await client.read_resource(VIEWER_URI)
            doc = res.contents[0]
            assert doc.mime_type == "text/html;profile=mcp-app"
            html = doc.text
            assert "/viewer/app.js" not in html and "<script type=\"module\">" in html  # self-contained
            assert "http://" not in html and "https://" not in html  # no CDN, no network
            # preview_clip refuses what it cannot do, clearly, and the server keeps answering.
            vids = (await client.call_tool("list_videos", {"limit": 50})).structured_content["videos"]
            ok = next(v for v in vids if v["state"] == "indexed")
            failed = next(v for v in vids if v["state"] == "failed")
            for bad, why in (({"video": ok["video_id"], "start": 0, "end": 3600}, "at most 15 s"),
                             ({"video": failed["video_id"], "start": 0}, "could not be indexed"),
                             ({"video": "/etc/passwd", "start": 0}, "not an indexed video")):
                r = await client.call_tool("preview_clip", bad)
                assert r.is_error and why in r.content[0].text, (bad, r.content)
            assert not (await client.call_tool("index_status", {})).is_error
            args = {"query": QUERY, "limit": 8}
            result = await client.call_tool("search_footage", args)
            out = result.structured_content
            assert out["moments"] and not result.is_error

            with chrome(1000, 1400) as driver:
                driver.get("about:blank")
                driver.execute_script(HOST_JS, html, args, _wire(result), 440, APP_CSP)
                host = Host(driver, client)
                n = len(out["moments"])
                await host.pump_until(f"return document.querySelectorAll('#cards .card').length === {n}", 60,
                                      "the cards")
                await host.pump_until("const im = [...document.querySelectorAll('#cards img')];"
                                      "return im.length && im.every(i => i.complete && i.naturalWidth > 0)", 90,
                                      "every card's image (tool images, then get_frame)")
                driver.switch_to.frame(driver.find_element("css selector", "iframe"))
                shown = driver.execute_script(
                    "return [document.querySelector('#verdict .verdict').dataset.match, "
                    "[...document.querySelectorAll('#cards .card')].map(c => [c.dataset.videoId, +c.dataset.start]),"
                    "document.getElementById('q').value]")
                driver.switch_to.default_content()
                assert shown[0] == out["match"]
                assert shown[1] == [[m["video_id"], m["start"]] for m in out["moments"]]  # the tool's order
                assert shown[2] == QUERY  # tool input reached the app
                await host.pump_until("return document.querySelectorAll('.tl canvas[data-drawn]').length >= 1", 60,
                                      "a timeline (score_timeline through the host)")
                # Click the top moment: the app asks for a preview clip and plays it inline.
                driver.switch_to.frame(driver.find_element("css selector", "iframe"))
                driver.find_element("css selector", "#cards .card").click()
                driver.switch_to.default_content()
                playing = ("const v = document.getElementById('video'); return v.readyState >= 2 && "
                           "v.currentTime > 0 && !v.paused && [v.currentTime, v.currentSrc.slice(0, 16)]")
                t1 = await host.pump_until(playing, 120, "the preview clip to play")
                assert t1[1] in ("data:video/mp4;b", "data:video/webm;")
                await anyio.sleep(1.0)
                t2 = await host.pump_until("return document.getElementById('video').currentTime", 5, "time")
                assert t2 > t1[0], "the preview clip does not advance"
                await host.pump_until("const im = [...document.querySelectorAll('#filmstrip img')];"
                                      "return im.length && im.every(i => i.complete && i.naturalWidth > 0)", 60,
                                      "the filmstrip")
                assert {"preview_clip", "get_frame", "score_timeline"} <= set(host.calls), host.calls
                log = driver.execute_script("return host.log")
                assert log[0] == "ui/initialize" and "ui/notifications/initialized" in log
                assert driver.execute_script("return host.sizes.length") > 0  # the app reports its height
                errors = console_errors(driver)
                assert not errors, errors
                driver.execute_script("window.scrollTo(0, 0)")
                screenshot(driver, "viewer-mcp-app", full_page=True)
                # A score_timeline result sent to the same view: its peaks as cards, one heat strip.
                tl = await client.call_tool("score_timeline", {"video": out["moments"][0]["video_id"],
                                                               "query": QUERY, "thumbnails": 3})
                peaks = tl.structured_content["peaks"]
                driver.execute_script("document.querySelector('iframe').contentWindow.postMessage({jsonrpc: '2.0', "
                                      "method: 'ui/notifications/tool-result', params: arguments[0]}, '*')", _wire(tl))
                await host.pump_until(f"return document.querySelectorAll('#cards .card').length === {len(peaks)} && "
                                      "document.querySelectorAll('.tl canvas[data-drawn]').length === 1 && "
                                      "document.getElementById('detail').hidden", 60, "the timeline result")
                print("MCP App tool calls:", json.dumps(host.calls))

    anyio.run(main)
