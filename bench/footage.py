"""Benchmark footage: the real clips, plus long 1080p H.264 files made from them with ffmpeg.

    python bench/footage.py [--dir /tmp/reelfind-bench/footage]

Makes (once; kept for reruns) in the scratch dir, outside the repo, each in a folder of its own:
  long1080_gop1s.mp4   ~92 s, 1920x1080, 25 fps, H.264 ~8 Mb/s, a keyframe every 1 s exactly
                       (fixed GOP, no scene-cut keyframes: like camera originals)
  long1080_gop10s.mp4  the same pictures, keyframe every 10 s plus x264 scene-cut keyframes (web/film)
Both are the clips below upscaled (aspect kept, padded) and concatenated, so they have real motion,
hard cuts between clips, animation and live action.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "footage"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/footage")
CLIPS = [
    "big_buck_bunny_0_30.webm",
    "sintel_excerpt_a.mp4",
    "sintel_excerpt_b.mkv",
    "car-detection.mp4",
    "butterfly.mov",
    "flower_vp9.webm",
    "friday.mp4",
]
VARIANTS = {
    # name: x264 GOP options
    "long1080_gop1s.mp4": ["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"],
    "long1080_gop10s.mp4": ["-g", "250", "-keyint_min", "25"],
}


def real_clips() -> list[Path]:
    """All good clips of the shared footage (not bad/)."""
    exts = {".mp4", ".mkv", ".webm", ".mov", ".avi"}
    return sorted(p for p in SHARED.iterdir() if p.suffix in exts)


def copy_real(out_dir: Path) -> Path:
    """The good shared clips (not bad/) copied into <out_dir>/real, so a plain `reelfind index` takes them all."""
    dst = out_dir / "real"
    dst.mkdir(parents=True, exist_ok=True)
    for p in real_clips():
        if not (dst / p.name).exists():
            shutil.copyfile(p, dst / p.name)
    return dst


def make_long(out_dir: Path, force: bool = False) -> dict[str, Path]:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found: apt-get install -y ffmpeg (makes the 1080p files; the naive baseline)")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, gop in VARIANTS.items():
        dst = out_dir / Path(name).stem / name  # one folder per file: indexable on its own
        dst.parent.mkdir(parents=True, exist_ok=True)
        out[name] = dst
        if dst.exists() and not force:
            continue
        inputs: list[str] = []
        chains = []
        for i, clip in enumerate(CLIPS):
            inputs += ["-i", str(SHARED / clip)]
            chains.append(
                f"[{i}:v]scale=1920:1080:force_original_aspect_ratio=decrease:flags=bicubic,"
                f"pad=1920:1080:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,format=yuv420p[v{i}]"
            )
        labels = "".join(f"[v{i}]" for i in range(len(CLIPS)))
        graph = ";".join(chains) + ";" + labels + f"concat=n={len(CLIPS)}:v=1:a=0[v]"
        tmp = dst.with_suffix(".tmp.mp4")
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]",
               "-c:v", "libx264", "-preset", "fast", "-profile:v", "high", "-b:v", "8M", "-maxrate", "10M",
               "-bufsize", "16M", *gop, "-movflags", "+faststart", str(tmp)]
        subprocess.run(cmd, check=True)
        tmp.replace(dst)
    return out


def wait_peak_rss(p: subprocess.Popen) -> int:
    """Wait for `p` to end, sampling its RSS every 50 ms; the peak in bytes (ru_maxrss is cumulative)."""
    import psutil

    proc = psutil.Process(p.pid)
    peak = 0
    while p.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, proc.memory_info().rss)
        time.sleep(0.05)
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/reelfind-bench/footage"))
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    for name, p in make_long(a.dir, a.force).items():
        print(name, p, p.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
