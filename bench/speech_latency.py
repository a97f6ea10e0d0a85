"""With the speech channel on, does a new file still become searchable by picture as fast as with it
off? And the peak RSS of `reelfind serve` running both channels. One run, ratios printed.

    python bench/speech_latency.py [--probes 5] [--asr-size tiny] [--background 300] [--rounds 1]

For each mode (speech off, then speech on with ASR on a random-weight model of the real
`--asr-size` shape, VAD off so the recogniser never idles; bench/asr_throughput.py builds it) a real
`reelfind serve` (tiny CLIP test model, a fresh data dir, one watched root, stable_seconds 1) first
gets a long talking clip (`--background` s), so with speech on an ASR pass is running when each
probe clip (distinct 20-24 s talking clips) is renamed into the root. Latency = the probe's
visual pass finished (GET /status `recent`) - its arrival - stable_seconds, i.e. from the moment
the file is stable to searchable by picture ("before the pass started": the part spent until the
worker began its visual pass, i.e. noticing it and the speech pass yielding). Peak RSS: the serve
process plus its children (the speech recognition process), summed, sampled every 0.1 s.
Other jobs share this machine: the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.asr_throughput import model as asr_model  # noqa: E402
from tests.conftest import tiny_env  # noqa: E402
from tests.speech_support import long_talking_clip  # noqa: E402
from tests.test_daemon_support import free_port  # noqa: E402

SCRATCH = Path("/tmp/reelfind-bench/latency")
STABLE = 1.0


def clips(probes: int, background: int) -> tuple[Path, list[Path]]:
    src = SCRATCH / "src"
    bg = src / f"bg-{background}.mp4"
    if not bg.exists():
        long_talking_clip(bg, background)
    out = []
    for i in range(probes):
        p = src / f"probe-{20 + i}.mp4"  # distinct lengths: distinct content (no copy reuse)
        if not p.exists():
            long_talking_clip(p, 20 + i, say=f"probe number {i} the river rose")
        out.append(p)
    return bg, out


def status(port: int) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:  # noqa: S310
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def wait(cond, what: str, timeout: float = 600.0):
    deadline = time.monotonic() + timeout
    while not (got := cond()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return got


def one_mode(speech: bool, bg: Path, probes: list[Path], asr: Path) -> dict:
    work = SCRATCH / ("on" if speech else "off")
    shutil.rmtree(work, ignore_errors=True)
    root, stage = work / "root", work / "stage"
    root.mkdir(parents=True)
    stage.mkdir()
    port = free_port()
    sources = '["sidecar", "stream", "asr"]' if speech else '["sidecar", "stream"]'
    env = tiny_env(work / "data", REELFIND_ROOTS=json.dumps([{"path": str(root), "stable_seconds": STABLE}]),
                   REELFIND_SERVER__PORT=str(port), REELFIND_CHANNELS__SPEECH__SOURCES=sources,
                   REELFIND_CHANNELS__SPEECH__ASR_MODEL=str(asr), REELFIND_CHANNELS__SPEECH__ASR_VAD="false")
    if not speech:
        env["REELFIND_CHANNELS__SPEECH__ENABLED"] = "false"
    exe = Path(sys.executable).with_name("reelfind")
    log = open(work / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=REPO)
    peak = {"rss": 0}
    done = threading.Event()

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                rss = p.memory_info().rss
                for c in p.children(recursive=True):  # the speech recognition process
                    with contextlib.suppress(psutil.Error):
                        rss += c.memory_info().rss
                peak["rss"] = max(peak["rss"], rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    lat, waited, asr_busy = [], [], 0
    try:
        wait(lambda: (s := status(port)) and s.get("model") == "loaded", "the service")

        def arrive(src: Path) -> float:
            tmp = stage / src.name
            shutil.copyfile(src, tmp)
            t = time.time()
            os.rename(tmp, root / src.name)
            return t

        def finished(name: str) -> tuple[float, float] | None:
            s = status(port) or {}
            got = [r for r in s.get("recent") or [] if r["path"] == str(root / name) and r["state"] == "indexed"]
            return (got[0]["started"], got[0]["finished"]) if got else None

        def speech_running() -> bool:
            return str((status(port) or {}).get("job") or "").startswith("speech:")

        arrive(bg)
        wait(lambda: finished(bg.name), "the background clip's visual pass")
        for p in probes:
            if speech:
                wait(speech_running, "a running speech pass", 120)
            t = arrive(p)
            started, fin = wait(lambda p=p: finished(p.name), f"{p.name} indexed")
            lat.append(fin - t - STABLE)
            waited.append(started - t - STABLE)
            asr_busy += speech and speech_running()
        if speech:  # both channels busy for a while: the RSS peak includes the ASR model at work
            wait(speech_running, "a running speech pass", 120)
            time.sleep(5)
    finally:
        done.set()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(120)
        log.close()
    return {"speech": speech, "latency_s": [round(x, 2) for x in lat], "median_s": round(statistics.median(lat), 2),
            "to_start_s": [round(x, 2) for x in waited],
            "peak_rss_mb": round(peak["rss"] / 2**20), "exit": rc}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=5)
    ap.add_argument("--asr-size", default="tiny")
    ap.add_argument("--background", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    bg, probes = clips(a.probes, a.background)
    asr = asr_model(a.asr_size)
    rows = []
    for _ in range(a.rounds):
        for speech in (False, True):
            r = one_mode(speech, bg, probes, asr)
            rows.append(r)
            print(f"speech {'on ' if speech else 'off'}: stable -> searchable by picture {r['latency_s']} s "
                  f"(median {r['median_s']} s; before the pass started {r['to_start_s']} s); "
                  f"peak RSS {r['peak_rss_mb']} MB; exit {r['exit']}", flush=True)
    off = statistics.median(x for r in rows if not r["speech"] for x in r["latency_s"])
    on = statistics.median(x for r in rows if r["speech"] for x in r["latency_s"])
    print(f"median latency on/off = {on / off:.3f} (on {on:.2f} s, off {off:.2f} s); load average {os.getloadavg()}")
    res = REPO / "bench" / "results"
    res.mkdir(exist_ok=True)
    (res / "speech_latency.json").write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
