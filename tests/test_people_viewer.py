"""The viewer's People page in real Chromium against a real `reelfind serve` (token set) over
friday.mp4 (two women at a switchboard) and asl_book.mkv (a signer), people channel on: a grid of
faces, naming by typing a name, finding two people together (a strip per person), faces on the
selected frame, merging by selecting; and the People API refuses what it must."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import FOOTAGE, REPO, tiny_env
from tests.viewer_support import Served, chrome, console_errors, screenshot, serving, wait_js

pytestmark = pytest.mark.timeout(600)
TOKEN = "people-viewer-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("people-viewer")
    folder, inbox = base / "footage", base / "inbox"
    for d in (folder, inbox):
        d.mkdir()
    for c in ("friday.mp4", "asl_book.mkv"):
        shutil.copy(FOOTAGE / c, folder / c)

    def done(st: dict) -> bool:  # both files searchable and their faces found (the people pass is done)
        ppl = (st.get("channels") or {}).get("people") or {}
        return st["counts"].get("indexed") == 2 and ppl.get("indexed") == 2

    with serving(base / "data", [{"path": str(folder)}], inbox, done, "both files and their faces", TOKEN, 300,
                 REELFIND_CHANNELS__PEOPLE__ENABLED="true", REELFIND_CHANNELS__SPEECH__ENABLED="false") as s:
        yield s


def _post(s: Served, path: str, body: object, auth: bool = True) -> httpx.Response:
    headers = {"Authorization": f"Bearer {s.token}"} if auth else {}
    return httpx.post(s.base + path, json=body, headers=headers, timeout=60)


def test_people_api_refuses_what_it_must(served: Served) -> None:
    assert served.get("/api/people", auth=False).status_code == 401
    assert _post(served, "/api/people/1/name", {"name": "X"}, auth=False).status_code == 401
    assert served.get("/api/people/crop/999999").status_code == 404
    assert served.get("/api/people/crop/..%2F..%2Fetc%2Fpasswd").status_code in (400, 404)
    assert served.get("/api/people/faces", params={"video": "/etc/passwd", "t": 1}).status_code == 400
    big = _post(served, "/api/people/merge", {"people": [1, 2], "pad": "x" * 10000})
    assert big.status_code == 400 and "body" in big.json()["error"]
    assert _post(served, "/api/people/1/name", {"name": "  "}).status_code == 400
    people = served.get("/api/people").json()["people"]
    assert len(people) == 3 and all(p["name"] is None for p in people), "bad requests changed nothing"
    crop = served.get(f"/api/people/crop/{people[0]['face_track']}")
    assert crop.status_code == 200 and crop.content[:2] == b"\xff\xd8"




def test_people_page_names_finds_together_and_merges(served: Served) -> None:
    people = served.get("/api/people").json()["people"]
    signer = next(p["id"] for p in people if p["first_seen"].endswith("asl_book.mkv"))
    friday = [p["id"] for p in people if p["id"] != signer]
    with chrome() as d:
        d.get(f"{served.base}/#token={served.token}")
        wait_js(d, "return document.getElementById('nav-people')", 20, "the People link")
        d.find_element("id", "nav-people").click()
        wait_js(d, "return document.querySelectorAll('#peoplegrid .person').length === 3", 30, "three faces")
        wait_js(d, "return [...document.querySelectorAll('#peoplegrid .face')].every(i => i.naturalWidth > 0)", 30,
                "every face crop decoded")
        assert d.execute_script("return document.getElementById('searchpage').hidden")

        def name(pid: int, text: str) -> None:
            box = d.find_element("css selector", f'.person[data-person="{pid}"] input[type=text]')
            box.clear()
            box.send_keys(text + "\n")
            wait_js(d, "return document.querySelector(`.person[data-person=\"${arguments[0]}\"] .name`)"
                       ".textContent === arguments[1]", 20, f"{text} shown", pid, text)

        name(friday[0], "Hildy")
        name(friday[1], "Operator")
        name(signer, "Signer")
        got = {p["id"]: p["name"] for p in served.get("/api/people").json()["people"]}
        assert got == {friday[0]: "Hildy", friday[1]: "Operator", signer: "Signer"}

        for pid in friday:
            d.find_element("css selector", f'.person[data-person="{pid}"] input[type=checkbox]').click()
        d.find_element("id", "peopletogether").click()
        wait_js(d, "return !document.getElementById('searchpage').hidden && "
                   "document.querySelectorAll('#cards .card').length === 1", 30, "one moment together, as a card")
        assert d.execute_script("return document.querySelectorAll('#cards .card .pstriprow').length") == 2
        assert d.execute_script("return document.querySelectorAll('#cards .card .pstrip span').length") >= 2
        wait_js(d, "return document.querySelector('#cards .card img').naturalWidth > 0", 30, "its frame")
        screenshot(d, "people-together", full_page=True)

        # the moment selected: the faces on its frame, each with a strip across the video
        d.find_element("css selector", "#cards .card").click()
        wait_js(d, "return document.querySelectorAll('#faces .faceon .pstrip').length === 2", 30,
                "two faces on the frame, each with a strip across the video")
        labels = d.execute_script(
            "return [...document.querySelectorAll('#faces .faceon .name')].map(e => e.textContent)")
        assert sorted(labels) == ["Hildy", "Operator"]
        screenshot(d, "people-faces-on-frame", full_page=True)

        # merge: select two, the first keeps its name
        d.get(f"{served.base}/#people")
        d.refresh()  # a fresh page: nothing selected
        wait_js(d, "return document.querySelectorAll('#peoplegrid .person').length === 3", 30, "three faces")
        for pid in (friday[1], signer):
            d.find_element("css selector", f'.person[data-person="{pid}"] input[type=checkbox]').click()
        d.find_element("id", "peopledrop").click()
        d.find_element("id", "peoplemerge").click()
        wait_js(d, "return document.querySelectorAll('#peoplegrid .person').length === 2", 30, "two left")
        assert not console_errors(d), console_errors(d)
    left = {p["name"] for p in served.get("/api/people").json()["people"]}
    assert left == {"Hildy", "Operator"}, "Signer merged into Operator (its name dropped, as asked)"


def test_cli_names_people_while_the_service_runs(served: Served) -> None:
    """`reelfind people` writes the people tables beside the running service (no stop, no hand-off)
    and the service's next answer has the change."""
    env = tiny_env(served.data_dir, REELFIND_CHANNELS__PEOPLE__ENABLED="true")
    r = subprocess.run([sys.executable, "-m", "reelfind", "people", "rename", "Hildy", "Rosalind"], env=env,
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    names = {p["name"] for p in served.get("/api/people").json()["people"]}
    assert "Rosalind" in names and "Hildy" not in names
    scenes = served.get("/api/people/together", params={"person": ["rosalind"]}).json()
    assert scenes["scenes"] and all(sc["who"]["people"] == ["Rosalind"] for sc in scenes["scenes"])
