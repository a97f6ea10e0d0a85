"""The viewer page of a real `reelfind serve` (shared footage, tiny model, bearer token) in a real
headless Chromium: search, cards, timelines, playback of the original file; the index page; and
hostile requests against the viewer's routes."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from daemon.web import Signer
from tests.conftest import FOOTAGE
from tests.viewer_support import (
    Served,
    chrome,
    chromium_version,
    console_errors,
    screenshot,
    serve_footage,
    set_viewport,
    wait_js,
)

pytestmark = pytest.mark.slow

QUERY = "a rabbit in a green meadow"
BROWSER_PLAYABLE = (".mp4", ".webm")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_footage(tmp_path_factory.getbasetemp()) as s:
        yield s


@pytest.fixture(scope="module")
def driver(served: Served) -> Iterator:
    with chrome() as d:
        print(f"browser: {chromium_version()}")
        yield d


def _search(driver, served: Served, query: str) -> None:
    driver.get(f"{served.base}/#token={served.token}")
    box = wait_js(driver, "return document.getElementById('q')", 20, "the search box")
    box.clear()
    box.send_keys(query + "\n")


def test_search_cards_timeline_and_playback(driver, served: Served) -> None:
    """Search in the page: verdict, cards in the tool's rank order with decoded thumbnails, heat
    strips drawn, hover shows a frame, clicking a moment plays the original file from its start."""
    t0 = time.monotonic()
    _search(driver, served, QUERY)
    api = served.get("/api/search", params={"q": QUERY, "limit": 12}).json()
    assert api["moments"], "the footage index returned no moments at all"
    wait_js(driver, "return document.querySelectorAll('#cards .card').length === arguments[0]", 60,
            "the cards", len(api["moments"]))
    # Verdict first, with the service's label and message; 'none' looks different from a list of hits.
    verdict = driver.execute_script("const v = document.querySelector('#verdict .verdict');"
                                    "return v && [v.dataset.match, v.textContent, getComputedStyle(v).borderStyle]")
    assert verdict[0] == api["match"]
    # The message's start (the leading channel's sentence): a later channel's sentence counts files the
    # service is still transcribing in the background, so it may change between the two searches.
    assert api["message"].split(":", 1)[-1].strip()[:40] in verdict[1]  # the label is shown apart
    if api["match"] == "none":
        assert verdict[2] == "dashed" and driver.execute_script(
            "return document.getElementById('cards').classList.contains('nomatch')")
    # Cards: the tool's order, h:mm:ss spans, and every thumbnail decoded.
    cards = driver.execute_script("return [...document.querySelectorAll('#cards .card')].map(c => "
                                  "[c.dataset.videoId, +c.dataset.start, c.querySelector('.time').textContent])")
    assert [(c[0], c[1]) for c in cards] == [(m["video_id"], m["start"]) for m in api["moments"]]
    assert all(len(c[2].split("–")) == 2 and c[2].count(":") == 4 for c in cards), cards
    wait_js(driver, "const im = [...document.querySelectorAll('#cards img')];"
                    "return im.length && im.every(i => i.complete && i.naturalWidth > 0)", 60, "thumbnails to decode")
    # Heat strips: one per video, really drawn (many colours, not a blank canvas).
    wait_js(driver, "return document.querySelectorAll('.tl canvas[data-drawn]').length >= 1", 60, "a timeline")
    colours = driver.execute_script(
        "const c = document.querySelector('.tl canvas[data-drawn]'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; const s = new Set();"
        "for (let i = 0; i < d.length; i += 4 * 7) s.add(d[i] + ',' + d[i+1] + ',' + d[i+2]); return s.size")
    assert colours >= 4, f"the heat strip looks blank ({colours} colours)"
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("css selector", ".tl canvas[data-drawn]")
    ActionChains(driver).move_to_element_with_offset(canvas, 5, 0).perform()
    wait_js(driver, "const h = document.getElementById('hover'); const i = h.querySelector('img');"
                    "return !h.hidden && i.complete && i.naturalWidth > 0", 30, "the hover frame")
    # Keyboard: arrow keys move between cards, Enter selects.
    from selenium.webdriver.common.keys import Keys

    first = driver.find_element("css selector", "#cards .card")
    driver.execute_script("arguments[0].focus()", first)
    if len(cards) > 1:
        driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        assert driver.execute_script("return document.activeElement.dataset.index") == "1"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait_js(driver, "return document.activeElement.getAttribute('aria-pressed') === 'true'", 10, "keyboard select")
    # Click a moment of a file Chromium plays, preferably one that does not start at 0.
    pick = max(range(len(api["moments"])), key=lambda k: (api["moments"][k]["name"].endswith(BROWSER_PLAYABLE),
                                                          api["moments"][k]["start"] >= 1.0, -k))
    m = api["moments"][pick]
    driver.find_elements("css selector", "#cards .card")[pick].click()
    first_t = wait_js(driver, "const v = document.getElementById('video');"
                              "return v.readyState >= 2 && !v.paused && v.currentTime > 0 && "
                              "[v.currentTime, +v.dataset.offset, v.currentSrc]", 60, "the video to play")
    t_play, offset, src = first_t
    if m["name"].endswith(BROWSER_PLAYABLE):
        assert f"/media/{m['video_id']}" in src, src
        assert offset == pytest.approx(m["start"])
    assert 0 <= t_play - offset < 1.0, f"playback started at {t_play} s, the moment at {offset} s"
    time.sleep(1.0)
    later = driver.execute_script("return document.getElementById('video').currentTime")
    assert later > t_play, "the video does not advance"
    wait_js(driver, "const im = [...document.querySelectorAll('#filmstrip img')];"
                    "return im.length && im.every(i => i.complete && i.naturalWidth > 0)", 60, "the filmstrip")
    errors = console_errors(driver)
    assert not errors, errors
    print(f"browser search-to-playback: {time.monotonic() - t0:.1f} s")
    screenshot(driver, "viewer-browser")
    screenshot(driver, "viewer-browser-full", full_page=True)


def test_narrow_column_is_readable(driver, served: Served) -> None:
    """At ~400 px wide nothing overflows sideways and cards stay at least 150 px wide."""
    set_viewport(driver, 400, 800)
    try:
        _search(driver, served, "cars in a parking lot")
        wait_js(driver, "return document.querySelector('#verdict .verdict:not(.busy)') && "
                        "document.querySelectorAll('#cards .card').length > 0", 60, "cards")
        sizes = driver.execute_script("return [document.documentElement.scrollWidth, "
                                      "document.querySelector('#cards .card').getBoundingClientRect().width]")
        assert sizes[0] <= 401, f"page is {sizes[0]} px wide in a 400 px column"
        assert sizes[1] >= 150
        screenshot(driver, "viewer-browser-narrow")
    finally:
        set_viewport(driver, 1280, 800)


def test_scenes_exclude_and_path_filter(driver, served: Served) -> None:
    """The form's "all of" scenes, exclude and path filter reach the service and show in the result."""
    from selenium.webdriver.support.ui import Select

    driver.get(f"{served.base}/#search")
    for box in ("q", "exclude", "path"):
        driver.find_element("id", box).clear()
    driver.find_element("id", "q").send_keys("a flower")
    driver.find_element("id", "exclude").send_keys("night")
    driver.find_element("id", "path").send_keys("*.webm\n")
    wait_js(driver, "const v = document.querySelector('#verdict .verdict'); return v && !v.classList.contains('busy')"
                    " && v.textContent.includes('without “night”')", 60, "the search verdict")
    names = driver.execute_script("return [...document.querySelectorAll('#cards .name')].map(n => n.textContent)")
    assert names and all(n.endswith(".webm") for n in names), names
    Select(driver.find_element("id", "mode")).select_by_value("scenes")
    assert driver.find_element("id", "allof").is_displayed() and not driver.find_element("id", "exclude").is_displayed()
    driver.find_element("id", "allof").send_keys("a green plant\n")
    text = wait_js(driver, "const v = document.querySelector('#verdict .verdict');"
                           "return v && v.textContent.includes('all of: a flower + a green plant') && v.textContent",
                   60, "the scenes verdict")
    api = served.get("/api/scenes", params=[("concept", "a flower"), ("concept", "a green plant"),
                                            ("path", "*.webm")]).json()
    assert {"good": "good match", "weak": "weak match", "none": "no good match"}[api["match"]] in text.lower()
    shown = driver.execute_script("return document.querySelectorAll('#cards .card').length")
    assert shown == len(api["scenes"])
    Select(driver.find_element("id", "mode")).select_by_value("moments")
    assert not console_errors(driver)


def test_index_page_lists_bad_files_with_reasons(driver, served: Served) -> None:
    """The index page: the root online, every failed file of ../shared/footage/bad with its reason."""
    status = served.get("/status").json()
    failed = {f["path"]: f["reason"] for f in status["failed"]}
    assert any("/bad/" in p for p in failed)
    driver.get(f"{served.base}/#token={served.token}")
    driver.get(f"{served.base}/#index")
    rows = wait_js(driver, "const r = [...document.querySelectorAll('#failed tbody tr')];"
                           "return r.length >= arguments[0] && r.map(x => [x.dataset.path, x.children[1].textContent])",
                   30, "failed rows", len(failed))
    shown = dict(rows)
    for path, reason in failed.items():
        assert shown.get(path) == reason, (path, shown.get(path))
    roots = driver.execute_script("return [...document.querySelectorAll('#roots li')]"
                                  ".map(l => [l.className, l.textContent])")
    assert [r[0] for r in roots] == ["online", "online"] and "/shared/footage" in roots[0][1]
    files = driver.execute_script("return document.querySelectorAll('#files tbody tr').length")
    assert files == status["counts"]["indexed"] + status["counts"]["failed"]
    assert not console_errors(driver)
    screenshot(driver, "viewer-index")


# -- hostile requests ---------------------------------------------------------------------------------

def _ids(served: Served) -> tuple[str, str]:
    vids = served.get("/api/videos").json()["videos"]
    good = next(v for v in vids if v["state"] == "indexed" and v["name"].endswith(".webm"))
    bad = next(v for v in vids if v["state"] == "failed")
    return good["video_id"], bad["video_id"]


def test_hostile_requests_are_refused(served: Served) -> None:
    """Media only by catalogue id of an indexed file; signed URLs checked; foreign pages refused."""
    good, failed = _ids(served)
    signer = Signer(served.token)
    # The page itself: strict CSP, no inline script allowed; assets by fixed name only.
    page = served.get("/", auth=False)
    csp = page.headers["content-security-policy"]
    assert page.status_code == 200 and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    for p in ("/viewer/", "/viewer/index.html", "/viewer/..%2F..%2Fpyproject.toml", "/viewer/__init__.py"):
        assert served.get(p, auth=False).status_code == 404, p
    # A signed URL works without a header, answers ranges with 206.
    url = signer.url(f"/media/{good}")
    r = served.get(url, auth=False, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.content) == 100 and r.headers["content-range"].startswith("bytes 0-99/")
    # Unsigned, forged, expired, or signed for another video: 401.
    assert served.get(f"/media/{good}", auth=False).status_code == 401
    forged = url[: url.index("sig=")] + "sig=" + "0" * 32
    assert served.get(forged, auth=False).status_code == 401
    expired = Signer(served.token, ttl=-5).url(f"/media/{good}")
    assert served.get(expired, auth=False).status_code == 401
    other = url.replace(good, failed)
    assert served.get(other, auth=False).status_code == 401
    wrong_key = Signer("not-the-token").url(f"/frame/{good}", t=1.0)
    assert served.get(wrong_key, auth=False).status_code == 401
    assert served.get("/api/search", auth=False, params={"q": "x"}).status_code == 401
    # Ids only: unknown ids, paths and a failed (not indexed) file are not found, even with the token.
    for vid in ("0123456789abcdef", failed, "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "not-an-id"):
        for route in ("/media/", "/frame/", "/clip/"):
            r = served.get(route + vid)
            assert r.status_code == 404, (route, vid, r.status_code)
            assert b"root:" not in r.content
    r = served.get("/api/frames", params={"video": "/work/shared/footage/friday.mp4"})
    assert r.status_code == 400  # the API takes ids, not paths
    # A page on another origin (or a rebinding Host) is refused before anything runs.
    assert served.get("/api/search", params={"q": "x"}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert served.get(url, auth=False, headers={"Origin": "http://evil.example"}).status_code == 403
    assert served.get("/", auth=False, headers={"Host": "evil.example"}).status_code == 403
    # A huge clip span is a clear error, and the service keeps answering.
    r = served.get(f"/clip/{good}", params={"start": 0, "end": 3600})
    assert r.status_code == 400 and "at most 15 s" in r.json()["error"]
    r = served.get(f"/clip/{good}", params={"start": 99999})
    assert r.status_code == 400 and "past the end" in r.json()["error"]
    assert served.get("/api/search", params={"q": "flower"}).status_code == 200
    clip = served.get(signer.url(f"/clip/{good}", start=0.5, end=2.5), auth=False)
    assert clip.status_code == 200 and clip.headers["content-type"] in ("video/mp4", "video/webm")


def test_index_page_shows_live_progress(driver, served: Served) -> None:
    """A file dropped into a watched root shows up on the open index page (polled /status), no reload."""
    driver.get(f"{served.base}/#index")
    before = served.get("/status").json()["counts"]["indexed"]
    wait_js(driver, "return document.getElementById('progress').textContent.includes(arguments[0])", 30,
            "the progress panel", f"{before} indexed")
    staged = served.data_dir / "bunny.webm"
    shutil.copy(FOOTAGE / "big_buck_bunny_0_30.webm", staged)
    os.rename(staged, served.inbox / "bunny.webm")  # appears complete at once
    wait_js(driver, "return document.getElementById('progress').textContent.includes(arguments[0]) && "
                    "[...document.querySelectorAll('#files td.path')].some(td => td.textContent.endsWith("
                    "'/bunny.webm'))", 120, "the new file to be indexed on the page", f"{before + 1} indexed")
    assert not console_errors(driver)
