"""The footage viewer: one static HTML/JS/CSS app (no build step, no network at run time).

Two homes, one set of files:
- `page_html()`: the browser page at `/` of `reelfind serve`; it loads `app.js` and `app.css`
  from `/viewer/` (the page's Content-Security-Policy allows no inline script).
- `app_html()`: the MCP App (`ui://` resource): the same document with the style sheet and the
  script inlined, since a host renders it from the resource text alone in a sandboxed iframe.
The document's `data-mode` attribute tells the script which backend to use (fetch or postMessage).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
_CSS_TAG = '<link rel="stylesheet" href="/viewer/app.css">'
_JS_TAG = '<script type="module" src="/viewer/app.js"></script>'


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def asset(name: str) -> tuple[bytes, str] | None:
    """(bytes, mime type) of a named asset; None for any other name (no listing, no paths)."""
    mime = ASSETS.get(name)
    return None if mime is None else (_read(name).encode("utf-8"), mime)


@lru_cache(maxsize=1)
def page_html() -> str:
    return _read("index.html")


@lru_cache(maxsize=1)
def app_html() -> str:
    """The self-contained document for the MCP App resource."""
    html = _read("index.html")
    css, js = _read("app.css"), _read("app.js")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("viewer assets must not contain a closing script/style tag (they are inlined)")
    if _CSS_TAG not in html or _JS_TAG not in html:
        raise ValueError("viewer/index.html must reference /viewer/app.css and /viewer/app.js exactly once")
    html = html.replace('data-mode="browser"', 'data-mode="mcp-app"', 1)
    html = html.replace(_CSS_TAG, f"<style>\n{css}\n</style>", 1)
    return html.replace(_JS_TAG, f'<script type="module">\n{js}\n</script>', 1)
