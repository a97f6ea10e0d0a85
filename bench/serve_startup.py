"""`reelfind serve` start-up, one run: spawn -> /status 200, MCP initialize + tools/list, READY=1, model loaded.

    python bench/serve_startup.py [--model tiny|vit-b-32] [--clips 2] [--repeat 1] [--tree DIR]

Starts the console script `reelfind serve` (a fresh temp data dir; a root holding --clips real
clips copied from ../shared/footage) with NOTIFY_SOCKET set to a datagram socket of ours, as
systemd would, and polls every 10 ms from the moment of the fork:
  status    first GET /status answered 200 (its "model" field then says what the model was doing)
  mcp       first successful MCP initialize + notifications/initialized + tools/list (raw JSON-RPC
            over streamable HTTP; a request the service gets before its MCP app is built waits there)
  ready     READY=1 on the notify socket
  model     first /status with model_loaded true
  cpu@...   CPU seconds the serve process had used at those two moments (a figure that other jobs
            on the machine inflate less than the wall clock)
`--model tiny`: the test suite's random-weight config (tests/assets); `vit-b-32`: ViT-B-32 with
model.pretrained = none (the real architecture, random weights: no download). The load average
is printed: other jobs share this machine. SIGTERM at the end; its exit status is printed too.
`--tree DIR`: run another checkout's code instead (`python -m reelfind serve` with PYTHONPATH=DIR),
e.g. `git archive HEAD | tar -x -C /tmp/old` for a before/after comparison in the same venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = REPO.parent / "shared" / "footage"
EXE = Path(sys.executable).with_name("reelfind")
TINY = REPO / "tests" / "assets" / "reelfind-tiny.json"
PROTOCOL = "2025-06-18"  # any version the SDK accepts; the answer names the one it speaks
CLIPS = ["asl_book.mkv", "bee_rotate90.mp4", "asl_walk.mkv", "asl_eat_vfr.mp4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def model_env(model: str) -> dict[str, str]:
    if model == "tiny":
        return {"REELFIND_MODEL__NAME": "reelfind-tiny", "REELFIND_MODEL__PRETRAINED": "none",
                "REELFIND_MODEL__CONFIG_PATH": str(TINY)}
    return {"REELFIND_MODEL__NAME": "ViT-B-32", "REELFIND_MODEL__PRETRAINED": "none"}


def _jsonrpc(resp: httpx.Response) -> dict | None:
    """The JSON-RPC answer of a streamable-HTTP POST (plain JSON or an SSE stream)."""
    if resp.status_code != 200:
        return None
    if resp.headers.get("content-type", "").startswith("application/json"):
        return resp.json()
    for line in resp.text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            msg = json.loads(line[5:])
            if "id" in msg:
                return msg
    return None


def mcp_tools(client: httpx.Client, url: str) -> list[str] | None:
    """initialize + initialized + tools/list; the tool names, or None if any step failed."""
    hdr = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "serve-startup-bench", "version": "0"}}}
    r = client.post(url, json=init, headers=hdr)
    msg = _jsonrpc(r)
    if not msg or "result" not in msg:
        return None
    h = dict(hdr)
    if sid := r.headers.get("mcp-session-id"):
        h["Mcp-Session-Id"] = sid
    h["Mcp-Protocol-Version"] = msg["result"].get("protocolVersion", PROTOCOL)
    client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
    msg = _jsonrpc(client.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=h))
    if not msg or "result" not in msg:
        return None
    return [t["name"] for t in msg["result"]["tools"]]


def _cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def one_run(model: str, n_clips: int, scratch: Path, tree: Path | None = None) -> dict:
    data, root = scratch / "data", scratch / "root"
    shutil.rmtree(scratch, ignore_errors=True)
    root.mkdir(parents=True)
    for name in CLIPS[:n_clips]:
        shutil.copy(FOOTAGE / name, root / name)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(scratch / "notify.sock"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFIND_")}
    env.update(model_env(model), REELFIND_DATA_DIR=str(data), REELFIND_SERVER__PORT=str(port),
               REELFIND_ROOTS=json.dumps([{"path": str(root), "stable_seconds": 0.5}]),
               NOTIFY_SOCKET=str(scratch / "notify.sock"))
    out: dict = {}
    ready_at: list[float] = []

    def read_notify() -> None:
        notify.settimeout(0.05)
        while not stop.is_set():
            try:
                msg = notify.recv(65536).decode()
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            if msg.startswith("READY=1") and not ready_at:
                ready_at.append(time.monotonic())

    stop = threading.Event()
    reader = threading.Thread(target=read_notify, daemon=True)
    reader.start()
    log = open(scratch / "serve.log", "wb")  # noqa: SIM115 (closed below)
    t0 = time.monotonic()
    cmd = [str(EXE), "serve"]
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
        cmd = [sys.executable, "-m", "reelfind", "serve"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=tree)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=30) as client:
            while "status" not in out and time.monotonic() - t0 < 120 and proc.poll() is None:
                try:
                    r = client.get(base + "/status")
                    if r.status_code == 200:
                        out["status"] = time.monotonic() - t0
                        out["cpu_status"] = _cpu(proc.pid)
                        st = r.json()
                        out["model_at_status"] = st.get("model")
                        out["mcp_at_status"] = st.get("mcp")
                        out["vectors_at_status"] = st.get("vectors")
                except httpx.HTTPError:
                    time.sleep(0.01)
            while "mcp" not in out and time.monotonic() - t0 < 120 and proc.poll() is None:
                try:
                    tools = mcp_tools(client, base + "/mcp")
                except httpx.HTTPError:
                    tools = None
                if tools:
                    out["mcp"] = time.monotonic() - t0
                    out["cpu_mcp"] = _cpu(proc.pid)
                    out["tools"] = len(tools)
                    out["model_at_mcp"] = client.get(base + "/status").json().get("model")
                else:
                    time.sleep(0.01)
            while "model" not in out and time.monotonic() - t0 < 180 and proc.poll() is None:
                if client.get(base + "/status").json().get("model_loaded"):
                    out["model"] = time.monotonic() - t0
                else:
                    time.sleep(0.05)
        deadline = time.monotonic() + 60
        while not ready_at and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        if ready_at:
            out["ready"] = ready_at[0] - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out["exit"] = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out["exit"] = proc.wait()
        stop.set()
        reader.join(2)
        notify.close()
        log.close()
    if "status" not in out:
        print((scratch / "serve.log").read_text(errors="replace")[-3000:], file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["tiny", "vit-b-32"], default="vit-b-32")
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "reelfind-serve-bench")
    ap.add_argument("--tree", type=Path, default=None, help="run this checkout's code (see above)")
    a = ap.parse_args()
    print(f"{a.tree or 'this tree'}: model {a.model}, {a.clips} clip(s), "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'run':>3} {'/status':>8} {'MCP list':>9} {'READY':>7} {'model':>7} {'cpu@status':>10} {'cpu@MCP':>8}"
          "  model at /status / at MCP, exit")
    for k in range(a.repeat):
        r = one_run(a.model, a.clips, a.scratch, a.tree)
        def f(key: str, r: dict = r) -> str:
            return f"{r[key]:.2f}s" if key in r else "-"

        print(f"{k + 1:>3} {f('status'):>8} {f('mcp'):>9} {f('ready'):>7} {f('model'):>7} {f('cpu_status'):>10} "
              f"{f('cpu_mcp'):>8}  "
              f"{r.get('model_at_status')} / {r.get('model_at_mcp')}, {r.get('tools', 0)} tools, exit {r.get('exit')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
