"""The naive baseline as a whole process: `ffmpeg -vf fps=1` to JPEG files, then open_clip on each.

    python bench/naive_clip.py VIDEO [--scratch DIR]

What a user might write first (the same steps as index_throughput.Naive, but as its own process so
that its imports and model load are timed like `reelfind index`'s): import open_clip, build
ViT-B-32 (random weights: nothing can be downloaded here, speed is the same), extract one JPEG per
second with ffmpeg, encode each JPEG (PIL open, the model's transform, encode_image on that one
image, torch's default threads). Prints one JSON line: frames embedded and the phase times.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

T0 = time.time()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--scratch", type=Path, default=None)
    a = ap.parse_args()
    import open_clip
    import torch
    from PIL import Image

    t_import = time.time()
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    t_model = time.time()
    out = Path(tempfile.mkdtemp(prefix="naive-", dir=a.scratch))
    try:
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(a.video), "-vf", "fps=1",
                        str(out / "%06d.jpg")], check=True)
        t_ffmpeg = time.time()
        n = 0
        with torch.no_grad():
            for jpg in sorted(out.glob("*.jpg")):
                x = preprocess(Image.open(jpg)).unsqueeze(0)
                v = model.encode_image(x)
                v = v / v.norm(dim=-1, keepdim=True)
                n += 1
        t_embed = time.time()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"frames": n, "started": T0, "imports_s": round(t_import - T0, 3),
                      "model_s": round(t_model - t_import, 3), "ffmpeg_s": round(t_ffmpeg - t_model, 3),
                      "embed_s": round(t_embed - t_ffmpeg, 3)}))


if __name__ == "__main__":
    main()
