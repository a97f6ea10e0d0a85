"""Speech pass throughput: audio-seconds per second of faster-whisper on this machine's CPU.

No Whisper weights can be downloaded here, so each model size is built with random weights of
its real shape (tests/whisper_tiny.py SIZES) and converted to CTranslate2 int8: the encoder costs
exactly what a trained model's does. A random decoder emits noise of arbitrary length, so decoding
is capped at MAX_TOKENS per 30 s window (~ the tokens of 30 s of ordinary speech) and the
temperature fallback is off (noise always "fails" its checks; real speech rarely does): the numbers
estimate a trained model on speech, they are not a measurement of one. Footage: espeak-ng speech
repeated over 60 s ("speech") and the same with a silence after each sentence as long as the
sentence ("half silence"), each timed with Silero VAD on and off, beam 1 (the default).

    python bench/asr_throughput.py [--sizes tiny,base,small] [--seconds 60] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.whisper_tiny import SIZES, build_tiny_whisper  # noqa: E402

SCRATCH = Path("/tmp/reelfind-bench/asr")
MAX_TOKENS = 90
SAY = "the river rose over the bridge at night and we never went back to the old house"


def footage(seconds: int, silence: bool) -> Path:
    out = SCRATCH / f"{'half-silence' if silence else 'speech'}-{seconds}.wav"
    if out.exists():
        return out
    SCRATCH.mkdir(parents=True, exist_ok=True)
    wav = SCRATCH / "say.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SAY], check=True, capture_output=True)
    pad = ["-af", f"apad=pad_dur={_dur(wav):.2f}"] if silence else []
    looped = SCRATCH / "one.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *pad, str(looped)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(looped), "-t",
                    str(seconds), "-ar", "16000", "-ac", "1", str(out)], check=True)
    return out


def _dur(wav: Path) -> float:
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(wav)],
                       capture_output=True, text=True, check=True)
    return float(r.stdout)


def model(size: str) -> Path:
    out = SCRATCH / f"random-{size}"
    if not (out / "model.bin").exists():
        build_tiny_whisper(out, SIZES[size])
    return out


def run(path: Path, audio: Path, vad: bool, threads: int) -> dict:
    from faster_whisper import WhisperModel, decode_audio

    m = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
    samples = decode_audio(str(audio))
    seconds = len(samples) / 16000
    t0 = time.perf_counter()
    segs, info = m.transcribe(samples, language="en", beam_size=1, vad_filter=vad, word_timestamps=True,
                              condition_on_previous_text=False, max_new_tokens=MAX_TOKENS, temperature=0.0)
    n = sum(1 for _ in segs)
    wall = time.perf_counter() - t0
    return {"audio_s": round(seconds, 1), "after_vad_s": round(info.duration_after_vad, 1), "wall_s": round(wall, 2),
            "audio_s_per_s": round(seconds / wall, 2), "segments": n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="tiny,base,small")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    rows = []
    for size in a.sizes.split(","):
        path = model(size)
        for silence in (False, True):
            for vad in (True, False):
                r = run(path, footage(a.seconds, silence), vad, a.threads)
                r.update(size=size, footage="half silence" if silence else "speech", vad=vad)
                rows.append(r)
                print(f"{size:6} {r['footage']:12} vad={'on ' if vad else 'off'} {r['audio_s']:6.1f} s audio "
                      f"({r['after_vad_s']:6.1f} s after VAD) in {r['wall_s']:6.2f} s = {r['audio_s_per_s']:6.2f} "
                      f"audio-s/s", flush=True)
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    (res / "asr_throughput.json").write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
