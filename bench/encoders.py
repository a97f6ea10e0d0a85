"""Image-encoder variants: speed and cosine against exact fp32 on the same real frames.

    python bench/encoders.py [--frames 64] [--batch 16] [--seconds 6]

ViT-B-32 with random weights (model.pretrained = none seeds torch, so every variant has the same
weights). Frames: sampled from the shared footage through the indexer's own decode + resize/crop.
Variants, each on ONE thread per batch (how the indexer runs its workers) and, for reference, torch
intra-op threads = cores:
  fp32            open_clip eager (the default)
  bf16-autocast   model.precision = "bf16" (torch.autocast on CPU)
  bf16-weights    the visual tower cast to bfloat16
  ort-fp32        the visual tower exported to ONNX, ONNX Runtime CPU (needs the `onnx` package to export)
  ort-int8        the same, dynamically quantised to int8 weights (onnxruntime.quantization)
Results: table on stdout and bench/results/encoders.json. Caveat: random weights have none of the
activation outliers of trained CLIP weights, so int8 cosine must be re-checked with real weights
(set --checkpoint to a local open_clip checkpoint).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from reelcore.channels.visual.embedder import Embedder  # noqa: E402
from reelcore.config import ModelSettings, SamplingSettings  # noqa: E402
from reelcore.media.decode import sample_frames  # noqa: E402

FOOTAGE = HERE.parent.parent / "shared" / "footage"
if not FOOTAGE.is_dir():
    FOOTAGE = Path("/work/shared/footage")


def frames(embedder: Embedder, n: int) -> np.ndarray:
    out = []
    clips = sorted(p for p in FOOTAGE.iterdir() if p.suffix in {".mp4", ".mkv", ".webm", ".mov", ".avi"})
    while len(out) < n:
        for c in clips:
            for fr in sample_frames(c, SamplingSettings(interval=2.0)):
                out.append(embedder.to_input_array(fr.image))
                if len(out) >= n:
                    return np.stack(out)
    return np.stack(out)


def rate(fn, x, seconds: float) -> float:
    fn(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(x)
        n += len(x)
    return n / (time.perf_counter() - t0)


def unit(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--checkpoint", default="none")
    args = ap.parse_args()
    import torch

    emb = Embedder(ModelSettings(name="ViT-B-32", pretrained=args.checkpoint))
    emb.load()
    px = frames(emb, args.frames)
    x = emb.normalize(torch.from_numpy(px))
    vis = emb._model.visual
    with torch.inference_mode():
        ref = unit(vis(x))
    xb = x[: args.batch]
    variants = {}

    def torch_fn(model, cast=None, autocast=False):
        def f(inp):
            with torch.inference_mode():
                if autocast:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return model(inp).float()
                return model(inp if cast is None else inp.to(cast)).float()
        return f

    variants["fp32"] = torch_fn(vis)
    variants["bf16-autocast"] = torch_fn(vis, autocast=True)
    variants["bf16-weights"] = torch_fn(copy.deepcopy(vis).to(torch.bfloat16), cast=torch.bfloat16)
    notes = {}
    try:
        import onnxruntime as ort

        tmp = Path(tempfile.mkdtemp(prefix="reelfind-onnx-"))
        f32 = tmp / "visual.onnx"
        torch.onnx.export(vis, (xb,), str(f32), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
        from onnxruntime.quantization import QuantType, quantize_dynamic

        i8 = tmp / "visual_int8.onnx"
        quantize_dynamic(str(f32), str(i8), weight_type=QuantType.QInt8)

        def ort_fn(path):
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            return lambda inp: torch.from_numpy(sess.run(None, {"x": inp.numpy()})[0])

        variants["ort-fp32"] = ort_fn(f32)
        variants["ort-int8"] = ort_fn(i8)
    except Exception as e:  # onnx not installed, export unsupported...
        notes["onnx"] = f"skipped: {type(e).__name__}: {e}"[:300]
    torch.set_num_threads(1)
    rows = []
    for name, fn in variants.items():
        got = unit(torch.cat([fn(x[i : i + args.batch]) for i in range(0, len(x), args.batch)]))
        cos = (got * ref).sum(1)
        r1 = rate(fn, xb, args.seconds)
        rows.append({"variant": name, "img_s_1thread": round(r1, 2), "cos_min": round(float(cos.min()), 5),
                     "cos_mean": round(float(cos.mean()), 5)})
        print(rows[-1], flush=True)
    base = rows[0]["img_s_1thread"]
    for r in rows:
        r["speedup"] = round(r["img_s_1thread"] / base, 2)
    torch.set_num_threads(os.cpu_count() or 1)
    intra = rate(variants["fp32"], xb, args.seconds)
    torch.set_num_threads(1)
    out = {"rows": rows, "fp32_intra_op_all_cores_img_s": round(intra, 2), "notes": notes,
           "load": os.getloadavg()[0], "frames": len(x), "batch": args.batch, "checkpoint": args.checkpoint}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "encoders.json").write_text(json.dumps(out, indent=1))
    print("| variant | img/s (1 thread) | speed-up | cosine vs fp32 min | mean |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['img_s_1thread']} | {r['speedup']} | {r['cos_min']} | {r['cos_mean']} |")
    print(f"fp32 with torch intra-op threads = {os.cpu_count()}: {out['fp32_intra_op_all_cores_img_s']} img/s; "
          f"notes: {notes or '-'}")


if __name__ == "__main__":
    main()
