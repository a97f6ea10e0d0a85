"""`reelfind index` on an unchanged, already indexed folder of 1,000 files, as a whole process.

    python bench/noop_rerun.py [--files 1000] [--repeat 5] [--scratch /tmp/reelfind-bench]

Builds (once; kept for reruns) a folder of N copies of a small real clip and indexes it: the first
copy is embedded (ViT-B-32, random weights), the others are recognised by fingerprint and reuse its
vectors. Then times `reelfind index FOLDER` (the console script, fork to exit) --repeat times and
prints the best and median wall time, and runs it once more under `python -X importtime` to say
whether torch, open_clip or chromadb were imported and where the import time goes.
Byte-code caching is on (PYTHONPYCACHEPREFIX in the scratch dir), as for an installed reelfind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from footage import SHARED  # noqa: E402

RESULTS = HERE / "results"
CLIP = "big_buck_bunny_432_433.webm"  # 1 s, 84 KiB
HEAVY = ("torch", "open_clip", "chromadb", "torchvision", "av")


def env_for(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFIND_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPYCACHEPREFIX=str(scratch / "pycache"), REELFIND_DATA_DIR=str(scratch / "data-noop"),
               REELFIND_MODEL__NAME="ViT-B-32", REELFIND_MODEL__PRETRAINED="none")
    return env


def reelfind() -> str:
    return shutil.which("reelfind") or str(Path(sys.executable).parent / "reelfind")


def index(env: dict[str, str], target: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([reelfind(), "index", str(target), "--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"reelfind index failed ({r.returncode}): {r.stderr[-2000:]}")
    return wall, json.loads(r.stdout)


def build(folder: Path, n: int, env: dict[str, str]) -> None:
    """N copies of one clip, indexed: the first embedded, the rest reusing its vectors."""
    marker = folder / f".built-{n}"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(env["REELFIND_DATA_DIR"], ignore_errors=True)
    sub = folder / "0000"
    sub.mkdir(parents=True)
    first = sub / f"clip-00000{Path(CLIP).suffix}"
    shutil.copyfile(SHARED / CLIP, first)
    index(env, first)
    for i in range(1, n):
        d = folder / f"{i // 100:04d}"  # 100 files a folder, like a real card dump
        d.mkdir(exist_ok=True)
        shutil.copyfile(first, d / f"clip-{i:05d}{first.suffix}")
    t, summary = index(env, folder)
    print(f"built {n} files in {folder}: {len(summary['copied_reusing_vectors'])} copies reused vectors ({t:.1f} s)")
    marker.touch()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/reelfind-bench"))
    a = ap.parse_args()
    folder = a.scratch / f"noop{a.files}"
    env = env_for(a.scratch)
    build(folder, a.files, env)
    load0 = round(os.getloadavg()[0], 2)
    walls = []
    for _ in range(a.repeat):
        wall, summary = index(env, folder)
        if summary["skipped_unchanged"] != a.files or summary["indexed"]:
            raise SystemExit(f"not a no-op run: {summary}")
        walls.append(wall)
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "reelfind.cli", "index", str(folder), "--json"],
                       env=env, capture_output=True, text=True, cwd=HERE.parent)
    imported, top = set(), []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = (x.strip() for x in line[len("import time:"):].split("|"))
        if not cum.isdigit():
            continue
        if name in HEAVY:
            imported.add(name)
        if not line.split("|")[2].startswith("  "):  # top-level imports only
            top.append((int(cum) / 1e6, name))
    top.sort(reverse=True)
    res = {"files": a.files, "best_s": round(min(walls), 3), "median_s": round(statistics.median(walls), 3),
           "walls_s": [round(w, 3) for w in walls], "imported_heavy": sorted(imported),
           "load": [load0, round(os.getloadavg()[0], 2)],
           "top_imports_s": [(n, round(s, 3)) for s, n in top[:12]]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "noop_rerun.json").write_text(json.dumps(res, indent=1))
    print(f"reelfind index on {a.files} unchanged files: best {res['best_s']} s, median {res['median_s']} s "
          f"(runs {res['walls_s']}; load {res['load']})")
    print(f"imported torch/open_clip/chromadb/av: {res['imported_heavy'] or 'none'}")
    print("top-level imports (cumulative s, one -X importtime run):")
    for name, s in res["top_imports_s"]:
        print(f"  {s:6.3f}  {name}")


if __name__ == "__main__":
    main()
