"""Whole-command `reelfind index FILE` against the naive script, both as whole processes, one run.

    python bench/whole_command.py [--sets gop1s,gop10s] [--repeat 2] [--scratch /tmp/reelfind-bench]

For each 1080p file (bench/footage.py makes them), interleaved in each repetition:
  naive     `python bench/naive_clip.py FILE`: imports, model build, ffmpeg fps=1 -> JPEG, open_clip
  reelfind  `reelfind index FILE --json` with a fresh data dir (the console script itself), wall
            clock from before the fork to after the exit, and its peak RSS (psutil, every 50 ms)
  traced    the same command through bench/traced_index.py, for the milestones: interpreter up,
            first decoded frame, model loaded, last commit; and last commit -> exit
ViT-B-32 with random weights (model.pretrained = none) in both; fp32. The ratio is naive wall /
reelfind wall, best of --repeat each (other jobs share this machine; the load average is recorded).
Both processes run with byte-code caching on (PYTHONPYCACHEPREFIX in the scratch dir), as an
installed reelfind would; one warm-up run of each first (page cache, .pyc files).
Results: table on stdout and bench/results/whole_command.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import footage as footage_mod  # noqa: E402

RESULTS = HERE / "results"
PY = sys.executable
SETS = {"gop1s": "long1080_gop1s.mp4", "gop10s": "long1080_gop10s.mp4"}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def base_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFIND_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    env.update(REELFIND_MODEL__NAME="ViT-B-32", REELFIND_MODEL__PRETRAINED="none")
    return env


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Run a process to the end: wall seconds (fork to reaped), peak RSS, stdout."""
    t0 = time.time()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = footage_mod.wait_peak_rss(p)
    t1 = time.time()
    out, err = p.communicate()
    if p.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({p.returncode}): {err[-2000:]}")
    return {"t0": t0, "t1": t1, "wall": t1 - t0, "peak_rss_mb": round(peak / 2**20), "stdout": out,
            "load": load()}


def reelfind_exe() -> str:
    return shutil.which("reelfind") or str(Path(PY).parent / "reelfind")


def run_reelfind(video: Path, scratch: Path, traced: bool) -> dict:
    data = scratch / "data-whole"
    shutil.rmtree(data, ignore_errors=True)
    env = {**base_env(scratch), "REELFIND_DATA_DIR": str(data)}
    cmd = [reelfind_exe(), "index", str(video), "--json"]
    trace = scratch / "trace.txt"
    if traced:
        trace.unlink(missing_ok=True)
        env["REELFIND_BENCH_TRACE"] = str(trace)
        cmd = [PY, str(HERE / "traced_index.py"), "index", str(video), "--json"]
    r = timed(cmd, env)
    summary = json.loads(r.pop("stdout"))
    if summary["indexed"] != 1:
        raise SystemExit(f"reelfind index did not index {video}: {summary}")
    r["frames"] = summary["frames"]
    if traced:
        ev: dict[str, list[float]] = {}
        for line in trace.read_text().split("\n"):
            if line:
                name, t = line.split()
                ev.setdefault(name, []).append(float(t))
        r.update({
            "start_to_main_s": ev["main"][0] - r["t0"],
            "start_to_first_frame_s": ev["first_frame"][0] - r["t0"],
            "start_to_model_loaded_s": ev["model_loaded"][0] - r["t0"],
            "model_load_s": ev["model_loaded"][0] - ev["model_start"][0],
            "start_to_last_commit_s": ev["commit"][-1] - r["t0"],
            "last_commit_to_exit_s": r["t1"] - ev["commit"][-1],
        })
    return r


def run_naive(video: Path, scratch: Path) -> dict:
    r = timed([PY, str(HERE / "naive_clip.py"), str(video), "--scratch", str(scratch)], base_env(scratch))
    r.update(json.loads(r.pop("stdout").strip().splitlines()[-1]))
    return r


def warm_up(video: Path, scratch: Path) -> None:
    """Page cache and byte code for both sides (the first run after boot pays for the disk)."""
    clip = scratch / "warm.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-t", "3",
                    "-c", "copy", str(clip)], check=True)
    run_reelfind(clip, scratch, traced=False)
    run_naive(clip, scratch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="gop1s,gop10s")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/reelfind-bench"))
    a = ap.parse_args()
    longs = footage_mod.make_long(a.scratch / "footage")
    work = a.scratch / "whole"
    work.mkdir(parents=True, exist_ok=True)
    sets = {name: longs[SETS[name]] for name in a.sets.split(",")}
    info = {"cpus": os.cpu_count(), "load_start": load(), "started": time.strftime("%F %T"),
            "model": "ViT-B-32 random weights, fp32"}
    warm_up(next(iter(sets.values())), work)
    runs: dict[str, dict[str, list[dict]]] = {n: {"naive": [], "reelfind": [], "traced": []} for n in sets}
    for r in range(a.repeat):
        for name, video in sets.items():
            got = runs[name]
            got["naive"].append(run_naive(video, work))
            got["reelfind"].append(run_reelfind(video, work, traced=False))
            got["traced"].append(run_reelfind(video, work, traced=True))
            print(f"  [{name} {r + 1}/{a.repeat}] naive {got['naive'][-1]['wall']:.2f} s, reelfind "
                  f"{got['reelfind'][-1]['wall']:.2f} s, traced {got['traced'][-1]['wall']:.2f} s, "
                  f"load {load()}", flush=True)
    info["load_end"] = load()
    rows = []
    for name, got in runs.items():
        nv, rf = min(got["naive"], key=lambda d: d["wall"]), min(got["reelfind"], key=lambda d: d["wall"])
        tr = min(got["traced"], key=lambda d: d["wall"])
        rows.append({
            "set": name, "naive_s": round(nv["wall"], 2), "reelfind_s": round(rf["wall"], 2),
            "ratio": round(nv["wall"] / rf["wall"], 2),
            "ratios_per_repeat": [round(n["wall"] / f["wall"], 2) for n, f in zip(got["naive"], got["reelfind"],
                                                                                   strict=True)],
            "traced_s": round(tr["wall"], 2),
            "start_to_interpreter_s": round(tr["start_to_main_s"], 2),
            "start_to_first_frame_s": round(tr["start_to_first_frame_s"], 2),
            "start_to_model_loaded_s": round(tr["start_to_model_loaded_s"], 2),
            "model_load_s": round(tr["model_load_s"], 2),
            "last_commit_to_exit_s": round(tr["last_commit_to_exit_s"], 2),
            "frames": rf["frames"], "naive_frames": nv["frames"],
            "naive_phases_s": {k: nv[k] for k in ("imports_s", "model_s", "ffmpeg_s", "embed_s")},
            "peak_rss_mb": max(d["peak_rss_mb"] for d in got["reelfind"]),
        })
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "whole_command.json").write_text(json.dumps({"info": info, "rows": rows, "runs": runs}, indent=1))
    print(f"\n{info}\n")
    cols = ["set", "naive_s", "reelfind_s", "ratio", "ratios_per_repeat", "start_to_interpreter_s",
            "start_to_first_frame_s", "start_to_model_loaded_s", "model_load_s", "last_commit_to_exit_s",
            "traced_s", "frames", "naive_frames", "peak_rss_mb"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in cols) + " |")
    for row in rows:
        print(f"naive phases {row['set']}: {row['naive_phases_s']}")


if __name__ == "__main__":
    main()
