"""Viewer, on-screen text: a `written` moment's line is boxed over the video where its record says.

A real `reelfind serve` (tiny CLIP model, text channel on, real OCR weights) over a folder with the
slate clip of tests/textvideo.py; headless Chromium searches "scene 42 take 3", selects the moment
that has the line, and the box drawn over the picture must sit where the record's box (fractions
of the frame) puts it on the letterboxed picture."""

from __future__ import annotations

import pytest

from tests.textvideo import render, slate_and_lower_third
from tests.viewer_support import chrome, console_errors, serving, wait_js

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("viewer-written")
    clips = base / "clips"
    clips.mkdir()
    render(slate_and_lower_third(), clips / "slate.mp4")
    with serving(base / "data", [{"path": str(clips), "stable_seconds": 0.5}], clips,
                 lambda st: st["channels"]["text"].get("indexed") == 1, "the text pass of the clip",
                 timeout=300, REELFIND_CHANNELS__TEXT__ENABLED="true") as s:
        yield s


def test_the_line_is_boxed_where_the_record_says(served):
    with chrome() as driver:
        driver.get(f"{served.base}/#token={served.token}")
        box = wait_js(driver, "return document.getElementById('q')", 20, "the search box")
        box.send_keys("scene 42 take 3\n")
        k = wait_js(driver, "const s = window.reelfindViewer; if (!s.items || !s.items.length) return null;"
                    "const i = s.items.findIndex(m => m.written); return i >= 0 ? String(i) : null;",
                    60, "a written moment among the cards")
        driver.find_elements("css selector", "#cards .card")[int(k)].click()
        wait_js(driver, "const b = document.getElementById('writtenbox'); return b && !b.hidden && b.dataset.placed",
                60, "the box placed over the picture")
        got = driver.execute_script("""
            const m = window.reelfindViewer.selected, v = document.getElementById('video');
            const b = document.getElementById('writtenbox').getBoundingClientRect(), r = v.getBoundingClientRect();
            const s = Math.min(v.clientWidth / v.videoWidth, v.clientHeight / v.videoHeight);
            const dw = v.videoWidth * s, dh = v.videoHeight * s;
            const left = r.left + v.clientLeft + (v.clientWidth - dw) / 2;
            const top = r.top + v.clientTop + (v.clientHeight - dh) / 2;
            const [x0, y0, x1, y1] = m.written.box;
            return {text: m.written.text, note: document.getElementById('writtennote').textContent,
                    box: [b.left, b.top, b.right, b.bottom],
                    want: [left + x0 * dw, top + y0 * dh, left + x1 * dw, top + y1 * dh],
                    video: [v.videoWidth, v.videoHeight], picture: [dw, dh]};
        """)
        assert "SCENE 42 TAKE 3" in got["text"].upper() and got["text"] in got["note"]
        assert got["video"] == [1280, 720] and got["picture"][0] > 100
        assert all(abs(a - b) <= 1.5 for a, b in zip(got["box"], got["want"], strict=True)), got
        # and the record's box is where the slate was drawn (x 0.25, y 0.45 of the frame)
        x0, y0 = [(got["box"][i] - got["want"][i]) for i in (0, 1)]
        assert abs(x0) <= 1.5 and abs(y0) <= 1.5
        sel = driver.execute_script("return window.reelfindViewer.selected.written.box")
        assert abs(sel[0] - 0.25) < 0.05 and abs(sel[1] - 0.45) < 0.05
        assert not console_errors(driver)
