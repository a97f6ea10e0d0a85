"""search_footage latency end to end over streamable HTTP, on an index of the shared footage.

    python bench/query_http.py [--n 200] [--thumbnails 3] [--config FILE] [--data-dir DIR]

Builds (once, kept for reruns) an index of ../shared/footage with the tiny random-weight test model
(or the model of --config), starts the MCP HTTP app under uvicorn in a child process (as `reelfind
serve` would), then times `tools/call search_footage` from a real MCP client: one long-lived
session, and a fresh session per call (what the stdio bridge does). Every query text is distinct,
so the text-embedding cache never helps. For the ratio it also times SearchService.search called
directly in this process on the same index, and prints one transcript of a client session.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reelcore.config import Settings, load_settings  # noqa: E402
from reelcore.ingest.discovery import Root  # noqa: E402
from reelcore.runtime import Runtime  # noqa: E402

FOOTAGE = REPO.parent / "shared" / "footage"
TINY = {"name": "reelfind-tiny", "pretrained": "none", "config_path": str(REPO / "tests/assets/reelfind-tiny.json")}
TOKEN = "bench-token"
SUBJECTS = ["a rabbit", "a car", "a woman", "two people talking", "a butterfly", "a flower", "a bee", "a bottle",
            "a dragon", "a person walking", "a telephone", "a forest", "a parking lot", "snow", "a title card"]
PLACES = ["in a forest", "at night", "indoors", "on a street", "in close-up", "from above", "in black and white",
          "in the rain", "at an office", "near water", "in a cartoon", "on a table", "in the snow", "at dusk"]


def queries(n: int) -> list[str]:
    out = [f"{s} {p}" for p in PLACES for s in SUBJECTS]
    k = 0
    while len(out) < n:
        out.append(f"{SUBJECTS[k % len(SUBJECTS)]} number {k}")
        k += 1
    return out[:n]


def settings_for(args: argparse.Namespace, port: int) -> Settings:
    over = {"data_dir": args.data_dir, "server": {"port": port, "token": TOKEN}}
    if args.config is None:
        over["model"] = TINY
    return load_settings(args.config, **over)


def build_index(s: Settings) -> None:
    rt = Runtime.open(s, "bench")
    try:
        plan = rt.reconciler().reconcile(Root(FOOTAGE))
        for rec in plan.todo:
            rt.indexer().index(rec)
        print(f"index: {rt.store.count()} frames of {rt.catalog.counts()['indexed']} videos "
              f"({rt.embedder.identity}) in {s.data_dir}", file=sys.stderr)
    finally:
        rt.close()


def serve(s: Settings) -> None:
    """Child process: the HTTP MCP app over the index, as inside `reelfind serve`."""
    import uvicorn

    from mcp_server.providers import RuntimeProvider
    from mcp_server.server import http_app

    rt = Runtime.open(s, "serve")
    uvicorn.run(http_app(s, RuntimeProvider(rt)), host=s.server.host, port=s.server.port, log_config=None,
                access_log=False)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def summary(name: str, xs: list[float]) -> str:
    ms = [x * 1000 for x in xs]
    return (f"{name:<36} n={len(ms):<4} p50={pct(ms, 50):7.1f} ms  p95={pct(ms, 95):7.1f} ms  "
            f"mean={statistics.mean(ms):7.1f} ms")


async def over_http(url: str, qs: list[str], thumbnails: int, fresh: int) -> tuple[list, list, int, str]:
    from mcp import Client  # noqa: F401  (imported for the transcript's sake)

    from tests.mcp_support import http_client

    session, per_call, size = [], [], 0
    async with http_client(url, TOKEN) as c:
        for q in ["warm up", "warm up 2", "warm up 3"]:
            await c.call_tool("search_footage", {"query": q, "thumbnails": thumbnails})
        for q in qs:
            t0 = time.perf_counter()
            r = await c.call_tool("search_footage", {"query": q, "limit": 10, "thumbnails": thumbnails})
            session.append(time.perf_counter() - t0)
            assert not r.is_error, r.content[0].text
            size = max(size, len(r.model_dump_json()))
    for q in qs[:fresh]:
        t0 = time.perf_counter()
        async with http_client(url, TOKEN) as c:
            r = await c.call_tool("search_footage", {"query": q + " again", "limit": 10, "thumbnails": thumbnails})
        per_call.append(time.perf_counter() - t0)
    return session, per_call, size, await transcript(url)


async def transcript(url: str) -> str:
    """One real client session: tools/list and one search_footage call, as the client sees them."""
    from tests.mcp_support import http_client

    lines = []
    async with http_client(url, TOKEN) as c:
        lines.append(f"# connected to {url} (protocol {c.protocol_version})")
        tools = (await c.list_tools()).tools
        lines.append("> tools/list")
        for t in tools:
            req = t.input_schema.get("required", [])
            lines.append(f"< {t.name}({', '.join(t.input_schema['properties'])}) required={req} "
                         f"readOnly={t.annotations.read_only_hint} :: {t.description.splitlines()[0]}")
        args = {"query": "a rabbit in a forest", "limit": 3, "thumbnails": 1}
        lines.append(f"> tools/call search_footage {json.dumps(args)}")
        r = await c.call_tool("search_footage", args)
        lines.append("< structuredContent " + json.dumps(r.structured_content, indent=1))
        for b in r.content[1:]:
            lines.append(f"< content {b.type}: " + (b.text if b.type == "text" else
                                                     f"{b.mime_type}, {len(b.data) * 3 // 4} bytes"))
    return "\n".join(lines)


def direct(s: Settings, qs: list[str]) -> list[float]:
    from reelcore.query.search import SearchService

    rt = Runtime.open(s, "bench", own_store=False)
    try:
        svc = SearchService(s, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        svc.warm()
        out = []
        for q in qs:
            t0 = time.perf_counter()
            svc.search(q + " direct", 10)
            out.append(time.perf_counter() - t0)
        return out
    finally:
        rt.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="timed calls in the long-lived session")
    ap.add_argument("--fresh", type=int, default=30, help="timed calls with a new session each")
    ap.add_argument("--thumbnails", type=int, default=3)
    ap.add_argument("--config", type=Path, default=None, help="reelfind config (default: tiny test model)")
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/reelfind-bench/query-http"))
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--transcript", type=Path, default=None, help="also write the session transcript here")
    args = ap.parse_args()
    if args.serve:
        serve(settings_for(args, args.port))
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = settings_for(args, port)
    build_index(s)
    cmd = [sys.executable, __file__, "--serve", "--port", str(port), "--data-dir", str(args.data_dir)]
    if args.config:
        cmd += ["--config", str(args.config)]
    child = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the HTTP server did not start") from None
                time.sleep(0.1)
        qs = queries(args.n)
        session, fresh, size, text = anyio.run(over_http, s.mcp_url, qs, args.thumbnails, args.fresh)
    finally:
        child.terminate()
        child.wait(10)
    inproc = direct(s, qs)
    print(f"search_footage, limit 10, thumbnails {args.thumbnails}, {len(qs)} distinct queries; "
          f"largest response {size / 1024:.0f} KiB; {os.cpu_count()} CPUs")
    print(summary("HTTP, one session (end to end)", session))
    print(summary("HTTP, new session per call", fresh))
    print(summary("SearchService.search in process", inproc))
    print(f"ratio HTTP/in-process: p50 {pct(session, 50) / pct(inproc, 50):.2f}x, "
          f"p95 {pct(session, 95) / pct(inproc, 95):.2f}x")
    print("\n" + text)
    if args.transcript:
        args.transcript.write_text(text + "\n")


if __name__ == "__main__":
    main()
