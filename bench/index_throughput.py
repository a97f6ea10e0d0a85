"""Indexing throughput: end-to-end `reelfind index` against decode-only, embed-only and a naive baseline.

    python bench/index_throughput.py [--sets real,gop1s,gop10s] [--repeat 2] [--scratch /tmp/reelfind-bench]

Footage sets (made once by bench/footage.py in the scratch dir, outside the repo):
  real    the good clips of ../shared/footage (14 files, 212 s, 360p-720p, several codecs)
  gop1s   ~99 s 1080p25 H.264 8 Mb/s, keyframe every 1 s (camera-original-like)
  gop10s  the same pictures, keyframe every 10 s + scene-cut keyframes (web/film)

For each set, in one run, with ViT-B-32 random weights (model.pretrained = none) and a fresh data dir:
  e2e       the real indexing code (Runtime + Indexer, as `reelfind index` runs it) in this process,
            timed from after the model load, with index.prefetch_next on (the next file decodes while
            this one's last batches embed); `e2e-serial`: the same with it off (each file drains
            before the next starts), both in the same run. Also `e2e-cli`: the `reelfind index` command itself,
            wall clock including process start and model load, with its peak RSS.
  (a)       decode-only: the decode thread's whole job (same decode mode, sampling, dedup, thumbnail
            JPEG, resize+crop to the model's input) with no model, decoder threads on all cores.
  (b)       embed-only: the frames (a) produced, already decoded, normalised and through the model
            the way the indexer does it (one single-threaded batch per core), all cores. Also
            `(b) intra-op`: one batch at a time with torch intra-op threads = cores, for comparison.
  S         = 1 / (1/a + 1/b): the serial bound, a run doing one stage after the other.
  (c)       naive: `ffmpeg -i F -vf fps=1 DIR/%06d.jpg`, then open_clip on each JPEG file
            (PIL open, the model's transform, encode_image on that one image; torch default threads).
Rates are video-seconds per wall-second (x realtime). Each measurement is repeated --repeat times and
the best is kept (other people's jobs share this machine); the load average around each is recorded.
A per-stage profile of one e2e run says where the time goes. Results: table on stdout and
bench/results/index_throughput.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import footage as footage_mod  # noqa: E402

from reelcore.channels.visual.embedder import Embedder  # noqa: E402
from reelcore.channels.visual.indexer import Indexer  # noqa: E402
from reelcore.config import Settings, load_settings  # noqa: E402
from reelcore.ingest.discovery import Root  # noqa: E402
from reelcore.media.decode import DecodeReport, probe, sample_frames  # noqa: E402
from reelcore.runtime import Runtime  # noqa: E402
from reelcore.storage.store import Thumbnails  # noqa: E402

MODEL = {"name": "ViT-B-32", "pretrained": "none"}
RESULTS = HERE / "results"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def settings_for(data_dir: Path, **over) -> Settings:
    over.setdefault("model", dict(MODEL))
    return load_settings(None, data_dir=data_dir, **over)


def videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".mp4", ".mkv", ".webm", ".mov", ".avi"})


def video_seconds(files: list[Path]) -> float:
    return sum(probe(f).duration or 0.0 for f in files)


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --------------------------------------------------------------------------- (a) decode only
def decode_only(files: list[Path], settings: Settings, embedder: Embedder, scratch: Path) -> dict:
    """What the indexer's decode thread does, with no model: returns rate inputs and the frames."""
    idx = Indexer(settings, None, None, embedder, Thumbnails(fresh(scratch / "thumbs-a")))  # type: ignore[arg-type]
    frames: list[np.ndarray] = []
    decoded = sampled = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for f in files:
        rep = DecodeReport()
        for fr in sample_frames(f, settings.sampling, rep, mode=idx.decode_mode(str(f))):
            idx.thumbs.save("a", fr.t_start, fr.image)
            frames.append(embedder.to_input_array(fr.image))
        decoded += rep.frames_decoded
        sampled += rep.frames_sampled
    wall = time.perf_counter() - t0
    return {"wall": wall, "cpu": time.process_time() - c0, "frames_decoded": decoded,
            "frames_sampled": sampled, "pixels": frames}


# --------------------------------------------------------------------------- (b) embed only
def embed_only(pixels: list[np.ndarray], embedder: Embedder, bs: int) -> float:
    """Same scheme as the indexer: `workers` single-threaded batches side by side."""
    batches = [np.stack(pixels[i : i + bs]) for i in range(0, len(pixels), bs)]
    # split so every worker gets work, like the indexer's tail split
    w = embedder.workers
    if len(batches) < w and pixels:
        per = -(-len(pixels) // w)
        batches = [np.stack(pixels[i : i + per]) for i in range(0, len(pixels), per)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(w, initializer=embedder.init_worker_thread) as pool:
        list(pool.map(embedder.encode_pixels, batches))
    return time.perf_counter() - t0


def embed_intra_op(pixels: list[np.ndarray], embedder: Embedder, bs: int) -> float:
    """Alternative: one batch at a time, torch intra-op threads = cores."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(pixels), bs):
            embedder.encode_pixels(np.stack(pixels[i : i + bs]))
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(1)


# --------------------------------------------------------------------------- e2e
class StageTimer:
    """Wraps the indexer's stage functions to add up wall and thread-CPU time per stage."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.lock = threading.Lock()
        self._undo: list = []

    def wrap(self, obj, name: str, stage: str) -> None:
        orig = getattr(obj, name)

        def timed(*a, **k):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return orig(*a, **k)
            finally:
                with self.lock:
                    self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - t0
                    self.cpu[stage] = self.cpu.get(stage, 0.0) + time.thread_time() - c0

        setattr(obj, name, timed)
        self._undo.append((obj, name))

    def undo(self) -> None:
        for obj, name in self._undo:
            with contextlib.suppress(AttributeError):
                delattr(obj, name)


def e2e_inprocess(folder: Path, scratch: Path, profile: bool, prefetch: bool = True) -> dict:
    data = fresh(scratch / "data-e2e")
    rt = Runtime.open(settings_for(data, index={"prefetch_next": prefetch}), "bench")
    try:
        rt.embedder.load()
        prof = StageTimer()
        if profile:
            import reelcore.channels.visual.indexer as ix

            orig_sample = ix.sample_frames

            def timed_sample(*a, **k):
                gen = orig_sample(*a, **k)
                while True:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    try:
                        fr = next(gen)
                    except StopIteration:
                        return
                    finally:
                        with prof.lock:
                            prof.wall["decode+sample"] = prof.wall.get("decode+sample", 0) + time.perf_counter() - t0
                            prof.cpu["decode+sample"] = prof.cpu.get("decode+sample", 0) + time.thread_time() - c0
                    yield fr

            ix.sample_frames = timed_sample
            prof.wrap(rt.thumbs, "save", "thumbnail jpeg")
            prof.wrap(rt.embedder, "to_input_array", "resize+crop")
            prof.wrap(rt.embedder, "encode_pixels", "model (workers)")
            prof.wrap(rt.store, "upsert", "chroma upsert")
            prof.wrap(rt.catalog, "update", "catalog update")
        t0, c0 = time.perf_counter(), time.process_time()
        plan = rt.reconciler().reconcile(Root(folder))
        t_scan = time.perf_counter() - t0
        idx = rt.indexer()
        outs = idx.index_all(plan.todo)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if profile:
            ix.sample_frames = orig_sample
            prof.undo()
        bad = [o for o in outs if o.state != "indexed"]
        if bad:
            raise SystemExit(f"e2e: not indexed: {bad}")
        return {"wall": wall, "cpu": cpu, "scan": t_scan, "frames": sum(o.frames for o in outs),
                "profile_wall": prof.wall, "profile_cpu": prof.cpu}
    finally:
        rt.close()


def e2e_cli(folder: Path, scratch: Path) -> dict:
    data = fresh(scratch / "data-cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFIND_")}
    env.update(REELFIND_DATA_DIR=str(data), REELFIND_MODEL__NAME=MODEL["name"], REELFIND_MODEL__PRETRAINED="none",
               REELFIND_MODEL__PRECISION=MODEL.get("precision", "fp32"))
    exe = shutil.which("reelfind") or str(Path(sys.executable).parent / "reelfind")
    t0 = time.perf_counter()
    p = subprocess.Popen([exe, "index", str(folder), "--json"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out, errs = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"reelfind index failed ({p.returncode}): {errs[-2000:]}")
    summary = json.loads(out)
    return {"wall": wall, "frames": summary["frames"], "indexed": summary["indexed"]}


def peak_rss_cli(folder: Path, scratch: Path) -> int:
    """Peak RSS (bytes) of one `reelfind index` process, sampled with psutil (ru_maxrss is cumulative)."""

    data = fresh(scratch / "data-rss")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFIND_")}
    env.update(REELFIND_DATA_DIR=str(data), REELFIND_MODEL__NAME=MODEL["name"], REELFIND_MODEL__PRETRAINED="none",
               REELFIND_MODEL__PRECISION=MODEL.get("precision", "fp32"))
    exe = shutil.which("reelfind") or str(Path(sys.executable).parent / "reelfind")
    p = subprocess.Popen([exe, "index", str(folder), "--json"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return footage_mod.wait_peak_rss(p)


# --------------------------------------------------------------------------- (c) naive
class Naive:
    """What a user might write: ffmpeg to JPEGs at 1 fps, then open_clip file by file."""

    def __init__(self) -> None:
        import open_clip
        import torch

        torch.manual_seed(0)
        self.torch = torch
        self.model, _, self.preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
        self.model.eval()

    def run(self, files: list[Path], scratch: Path) -> dict:
        from PIL import Image

        torch = self.torch
        torch.set_num_threads(os.cpu_count() or 1)  # torch's default
        out = fresh(scratch / "naive")
        t0 = time.perf_counter()
        for k, f in enumerate(files):
            d = out / str(k)
            d.mkdir()
            subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(f), "-vf", "fps=1",
                            str(d / "%06d.jpg")], check=True)
        t_ffmpeg = time.perf_counter() - t0
        n = 0
        with torch.no_grad():
            for jpg in sorted(out.rglob("*.jpg")):
                x = self.preprocess(Image.open(jpg)).unsqueeze(0)
                v = self.model.encode_image(x)
                v = v / v.norm(dim=-1, keepdim=True)
                n += 1
        wall = time.perf_counter() - t0
        torch.set_num_threads(1)
        return {"wall": wall, "ffmpeg": t_ffmpeg, "embed": wall - t_ffmpeg, "frames_embedded": n}


def frames_in(files: list[Path]) -> int:
    """Every frame of the files (what ffmpeg -vf fps=1 decodes)."""
    import av

    n = 0
    for f in files:
        with av.open(str(f)) as c:
            s = c.streams.video[0]
            if s.frames:
                n += s.frames
            else:
                n += sum(1 for _ in c.demux(s) if _.size)
    return n


# --------------------------------------------------------------------------- main
def best(xs: list[dict], key: str = "wall") -> dict:
    return min(xs, key=lambda d: d[key])


def run_set(name: str, folder: Path, args, embedder: Embedder, naive: Naive | None) -> dict:
    files = videos(folder)
    vs = video_seconds(files)
    scratch = args.scratch / "work"
    s = settings_for(scratch / "unused")
    bs = s.model.batch_size
    res: dict = {"set": name, "files": len(files), "video_seconds": round(vs, 2), "runs": []}
    a_runs, b_runs, bi_runs, e_runs, c_runs, cli_runs, es_runs = [], [], [], [], [], [], []
    for r in range(args.repeat):
        la = load()
        a = decode_only(files, s, embedder, scratch)
        pixels = a.pop("pixels")
        a["load"] = la
        a_runs.append(a)
        b_runs.append({"wall": embed_only(pixels, embedder, bs), "load": load(), "frames": len(pixels)})
        if r == 0:
            bi_runs.append({"wall": embed_intra_op(pixels, embedder, bs), "load": load()})
        del pixels
        e = e2e_inprocess(folder, scratch, profile=(r == 0))
        e["load"] = load()
        e_runs.append(e)
        if args.serial:
            es = e2e_inprocess(folder, scratch, profile=False, prefetch=False)
            es["load"] = load()
            es_runs.append(es)
        if naive is not None:
            c = naive.run(files, scratch)
            c["load"] = load()
            c_runs.append(c)
        if not args.no_cli:
            try:
                c2 = e2e_cli(folder, scratch)
            except SystemExit as ex:  # the CLI is shared code under work: report, keep measuring
                print(f"  e2e-cli failed: {str(ex)[-300:]}", flush=True)
            else:
                c2["load"] = load()
                cli_runs.append(c2)
        print(f"  [{name} run {r + 1}/{args.repeat}] e2e {vs / e['wall']:.2f}x"
              + (f"  e2e-serial {vs / es_runs[-1]['wall']:.2f}x" if es_runs else "")
              + f"  decode {vs / a['wall']:.2f}x  "
              f"embed {vs / b_runs[-1]['wall']:.2f}x" + (f"  naive {vs / c_runs[-1]['wall']:.2f}x" if c_runs else "")
              + f"  load {load()}", flush=True)
    a, b, e = best(a_runs), best(b_runs), best(e_runs)
    ra, rb, re_ = vs / a["wall"], vs / b["wall"], vs / e["wall"]
    S = 1.0 / (1.0 / ra + 1.0 / rb)
    res.update({
        "decode_only_x": round(ra, 2), "embed_only_x": round(rb, 2),
        "embed_intra_op_x": round(vs / best(bi_runs)["wall"], 2),
        "serial_bound_S_x": round(S, 2), "e2e_x": round(re_, 2), "e2e_over_S": round(re_ / S, 3),
        "frames_decoded_per_vs": round(a["frames_decoded"] / vs, 2),
        "frames_embedded_per_vs": round(e["frames"] / vs, 3),
        "e2e_cpu_per_vs": round(e["cpu"] / vs, 3),
        "decode_cpu_per_vs": round(a["cpu"] / vs, 3),
        "profile_wall_s": {k: round(v, 2) for k, v in e_runs[0]["profile_wall"].items()},
        "profile_thread_cpu_s": {k: round(v, 2) for k, v in e_runs[0]["profile_cpu"].items()},
        "e2e_wall_s": round(e["wall"], 2), "e2e_process_cpu_s": round(e["cpu"], 2),
        "runs": {"decode": a_runs, "embed": b_runs, "embed_intra_op": bi_runs, "e2e": [
            {k: v for k, v in x.items() if not k.startswith("profile")} for x in e_runs], "naive": c_runs,
            "cli": cli_runs},
    })
    if es_runs:
        es = best(es_runs)
        res.update({"e2e_serial_x": round(vs / es["wall"], 2), "e2e_serial_over_S": round(vs / es["wall"] / S, 3)})
        res["runs"]["e2e_serial"] = es_runs
    if c_runs:
        c = best(c_runs)
        rc = vs / c["wall"]
        res.update({"naive_x": round(rc, 2), "e2e_over_naive": round(re_ / rc, 2),
                    "naive_frames_decoded_per_vs": round(frames_in(files) / vs, 2),
                    "naive_frames_embedded_per_vs": round(c["frames_embedded"] / vs, 3),
                    "naive_ffmpeg_s": round(c["ffmpeg"], 2), "naive_embed_s": round(c["embed"], 2)})
    if cli_runs:
        cl = best(cli_runs)
        res.update({"e2e_cli_x": round(vs / cl["wall"], 2), "e2e_cli_wall_s": round(cl["wall"], 2)})
        if c_runs:
            res["e2e_cli_over_naive"] = round((vs / cl["wall"]) / rc, 2)
    if args.rss:
        res["peak_rss_mb"] = round(peak_rss_cli(folder, scratch) / 2**20) or None
    return res


def print_table(results: list[dict]) -> None:
    cols = [("set", "set"), ("video s", "video_seconds"), ("(a) decode x", "decode_only_x"),
            ("(b) embed x", "embed_only_x"), ("S x", "serial_bound_S_x"), ("e2e x", "e2e_x"),
            ("e2e/S", "e2e_over_S"), ("serial e2e/S", "e2e_serial_over_S"),
            ("(c) naive x", "naive_x"), ("e2e/naive", "e2e_over_naive"),
            ("cli x", "e2e_cli_x"), ("cli/naive", "e2e_cli_over_naive"), ("dec/vs", "frames_decoded_per_vs"),
            ("emb/vs", "frames_embedded_per_vs"), ("naive dec/vs", "naive_frames_decoded_per_vs"),
            ("naive emb/vs", "naive_frames_embedded_per_vs"), ("RSS MB", "peak_rss_mb")]
    head = " | ".join(c for c, _ in cols)
    print("| " + head + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for r in results:
        print("| " + " | ".join(str(r.get(k, "-")) for _, k in cols) + " |")
    for r in results:
        print(f"\nprofile of one e2e run, {r['set']} (wall s summed per stage; thread CPU s):")
        for k, v in r["profile_wall_s"].items():
            print(f"  {k:18s} {v:8.2f} s wall  {r['profile_thread_cpu_s'].get(k, 0):8.2f} s cpu")
        print(f"  e2e wall {r['e2e_wall_s']} s, process CPU {r['e2e_process_cpu_s']} s "
              f"(decoder threads included), embed (b) intra-op alternative {r['embed_intra_op_x']}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="real,gop1s,gop10s")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/reelfind-bench"))
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--no-rss", dest="rss", action="store_false")
    ap.add_argument("--results", type=Path, default=None,
                    help="JSON results file (default bench/results/index_throughput[-int8].json)")
    ap.add_argument("--no-serial", dest="serial", action="store_false",
                    help="skip e2e-serial (the same e2e with index.prefetch_next = false)")
    ap.add_argument("--no-long", dest="long", action="store_false",
                    help="do not make the 1080p files (only for --sets real)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "int8"],
                    help="model.precision for reelfind's runs (the naive baseline stays fp32)")
    args = ap.parse_args()
    MODEL["precision"] = args.precision
    import logging

    logging.basicConfig(level=logging.ERROR)
    fdir = args.scratch / "footage"
    footage_mod.copy_real(fdir)
    folders = {"real": fdir / "real"}
    if args.long:
        longs = footage_mod.make_long(fdir)
        folders.update({"gop1s": longs["long1080_gop1s.mp4"].parent, "gop10s": longs["long1080_gop10s.mp4"].parent})
    embedder = Embedder(settings_for(args.scratch / "work" / "unused").model)
    embedder.load()
    naive = None if args.no_naive or not shutil.which("ffmpeg") else Naive()
    info = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "model": f"ViT-B-32 (random weights, {args.precision})", "load_start": load(),
            "started": time.strftime("%F %T"),
            "batch_size": settings_for(args.scratch / "work" / "unused").model.batch_size,
            "embed_workers": embedder.workers}
    results = []
    for name in args.sets.split(","):
        print(f"== {name}", flush=True)
        results.append(run_set(name, folders[name], args, embedder, naive))
    info["load_end"] = load()
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.precision == "fp32" else f"-{args.precision}"
    out = args.results or RESULTS / f"index_throughput{suffix}.json"
    out.write_text(json.dumps({"info": info, "results": results}, indent=1))
    print(f"\n{info}\n")
    print_table(results)


if __name__ == "__main__":
    main()
