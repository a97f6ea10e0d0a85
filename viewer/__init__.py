"""The footage viewer: one static HTML/JS/CSS app (no build step, no network at run time).

Two homes, one set of files:
- `page_html()`: the browser page at `/` of `reelfind serve`; it loads `app.js` and `app.css`
  from `/viewer/` (the page's Content-Security-Policy allows no inline script).
- `app_html()`: the MCP App (`ui://` resource): the same document with the style sheet and the
  script inlined, since a host renders it from the resource text alone in a sandboxed iframe.
The document's `data-mode` attribute tells the script which backend to use (fetch or postMessage).

The script is one ES module made of parts (`SCRIPT_PARTS`, joined in order, one scope): `app.js`
(backends, search, moments, timelines, index page, export bar), one file per channel's view
(`transcript.js`, ...) that registers itself in `HOOKS`, and `start.js`, which starts the app
after every part has registered. No build step: the parts are joined when served.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
# joined in this order into the one script served as app.js
SCRIPT_PARTS = ("app.js", "channels.js", "transcript.js", "written.js", "people.js", "start.js")
_CSS_TAG = '<link rel="stylesheet" href="/viewer/app.css">'
_JS_TAG = '<script type="module" src="/viewer/app.js"></script>'


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _script() -> str:
    return "\n".join(f"// ---- {name} ----\n{_read(name)}" for name in SCRIPT_PARTS)


def asset(name: str) -> tuple[bytes, str] | None:
    """(bytes, mime type) of a named asset; None for any other name (no listing, no paths)."""
    mime = ASSETS.get(name)
    if mime is None:
        return None
    return (_script() if name == "app.js" else _read(name)).encode("utf-8"), mime


@lru_cache(maxsize=1)
def page_html() -> str:
    return _read("index.html")


@lru_cache(maxsize=1)
def app_html() -> str:
    """The self-contained document for the MCP App resource."""
    html = _read("index.html")
    css, js = _read("app.css"), _script()
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("viewer assets must not contain a closing script/style tag (they are inlined)")
    if _CSS_TAG not in html or _JS_TAG not in html:
        raise ValueError("viewer/index.html must reference /viewer/app.css and /viewer/app.js exactly once")
    html = html.replace('data-mode="browser"', 'data-mode="mcp-app"', 1)
    html = html.replace(_CSS_TAG, f"<style>\n{css}\n</style>", 1)
    return html.replace(_JS_TAG, f'<script type="module">\n{js}\n</script>', 1)
