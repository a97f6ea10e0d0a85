"""The viewer's static files and URL signing, without a service: fast checks that can fail alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest

from daemon.web import Signer, public_request
from viewer import ASSETS, app_html, asset, page_html


def test_app_html_is_self_contained() -> None:
    """The MCP App document inlines its script and style and names no URL to fetch."""
    html = app_html()
    assert 'data-mode="mcp-app"' in html and '<script type="module">' in html and "<style>" in html
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html), "the app must not load anything"
    assert "http://" not in html and "https://" not in html
    assert page_html().count('src="/viewer/app.js"') == 1 and 'data-mode="browser"' in page_html()


def test_assets_are_a_fixed_list() -> None:
    assert set(ASSETS) == {"app.js", "app.css"}
    for name in ("index.html", "__init__.py", "../pyproject.toml", "", "app.js/", "APP.JS"):
        assert asset(name) is None, name
    body, mime = asset("app.js")
    assert mime.startswith("text/javascript") and b"ui/initialize" in body


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_app_js_parses() -> None:
    r = subprocess.run(["node", "--check", "--input-type=module"], input=asset("app.js")[0], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode()


def _scope(path: str, query: str = "", method: str = "GET") -> dict:
    return {"type": "http", "method": method, "path": path, "query_string": query.encode()}


def test_signed_urls() -> None:
    """A signed URL is valid for its path until it expires; forged, moved or expired ones are not."""
    s = Signer("tok", ttl=60)
    url = s.url("/media/0123456789abcdef")
    path, _, query = url.partition("?")
    assert s.valid(path, query)
    assert s.valid(path, query + "&t=12.5")  # the page may add a time: the grant is per video
    assert not s.valid("/media/fedcba9876543210", query)
    assert not Signer("other").valid(path, query)
    assert not s.valid(path, re.sub(r"sig=\w+", "sig=" + "a" * 32, query))
    assert not s.valid(path, re.sub(r"exp=\d+", f"exp={int(time.time()) + 9999}", query))  # exp is signed
    assert not s.valid(path, "")
    old = Signer("tok", ttl=-1).url(path)
    assert not s.valid(path, old.partition("?")[2])
    assert Signer(None).url(path) == path and not Signer(None).valid(path, query)
    public = public_request(s)
    assert public(_scope("/")) and public(_scope("/viewer/app.js")) and public(_scope(path, query))
    assert not public(_scope("/", method="POST")) and not public(_scope("/api/search"))
    assert not public(_scope("/mcp")) and not public(_scope("/status")) and not public(_scope(path))


def test_a_forged_non_ascii_signature_is_refused_not_an_error() -> None:
    s = Signer("tok")
    assert s.valid("/media/0123456789abcdef", "exp=99999999999&sig=%C3%A9") is False


def test_a_catalogued_file_swapped_for_a_symlink_out_of_its_root_is_not_servable(tmp_path) -> None:
    from reelcore.ingest.filetype import open_servable

    def servable(path: str, root: str) -> bool:
        fd = open_servable(path, root)
        if fd is not None:
            os.close(fd)
        return fd is not None

    root, outside = tmp_path / "root", tmp_path / "secret.txt"
    root.mkdir()
    outside.write_text("not footage")
    clip = root / "clip.mp4"
    clip.write_bytes(b"x" * 10)
    assert servable(str(clip), str(root))
    clip.unlink()
    clip.symlink_to(outside)  # someone with write access to the share swaps the file after indexing
    assert not servable(str(clip), str(root))
    assert not servable(str(root), str(root))  # a directory is never media
