"""The viewer's export in a real headless Chromium on a real `reelfind serve` (shared footage,
tiny model, bearer token): pick cards, choose a format, Export downloads the file the service's
/api/export makes for exactly the picked moments."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.export_support import parse_edl
from tests.viewer_support import Served, chrome, console_errors, serve_footage, wait_js

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_footage(tmp_path_factory.getbasetemp()) as s:
        yield s


def test_pick_cards_and_export_an_edl(served: Served) -> None:
    with chrome() as driver:
        driver.get(f"{served.base}/#token={served.token}")
        box = wait_js(driver, "return document.getElementById('q')", 20, "the search box")
        box.send_keys("a rabbit in a green meadow\n")
        wait_js(driver, "return document.querySelectorAll('#cards .card').length >= 2", 60, "the cards")
        assert wait_js(driver, "return !document.getElementById('exportbar').hidden", 10, "the export bar")
        # keep the downloaded blob where the test can read it
        driver.execute_script("window.__blobs = []; const o = URL.createObjectURL.bind(URL);"
                              "URL.createObjectURL = (b) => { window.__blobs.push(b); return o(b); };")
        cards = driver.find_elements("css selector", "#cards .card")
        cards[1].click()
        driver.find_element("id", "pick").click()
        cards[0].click()
        driver.find_element("id", "pick").click()
        assert driver.find_element("id", "pickcount").text == "2 picked"
        assert len(driver.find_elements("css selector", "#cards .card.picked")) == 2
        picked = driver.execute_script(
            "return [...document.querySelectorAll('#cards .card.picked')].map(c => c.dataset.videoId)")
        driver.execute_script("document.getElementById('exportformat').value = 'edl'")
        driver.find_element("id", "exportbtn").click()
        wait_js(driver, "return document.getElementById('exportnote').textContent.includes('2 moment(s)')", 60,
                "the export note")
        text = driver.execute_async_script("const done = arguments[0]; window.__blobs[0].text().then(done);")
        assert "export failed" not in driver.find_element("id", "exportnote").text
        assert not [e for e in console_errors(driver) if e.get("level") == "SEVERE"]
    edl = parse_edl(text)
    assert len(edl.events) == 2 and edl.title == "a rabbit in a green meadow"
    assert all(any("|M:a rabbit in a green meadow" in c for c in ev.comments) for ev in edl.events)
    names = {v["video_id"]: v["name"] for v in served.get("/api/videos").json()["videos"]}
    assert sorted(names[v] for v in picked) == sorted(
        next(c for c in ev.comments if c.startswith("* FROM CLIP NAME:  "))[19:] for ev in edl.events)
    # the route is behind the service's bearer token like the rest of the API
    no_token = served.get("/api/export", auth=False, params={"format": "edl", "moment": f"{picked[0]}@0-1"})
    assert no_token.status_code == 401
