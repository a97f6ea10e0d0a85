"""Footage with speech for the speech-channel tests: espeak-ng says the words, ffmpeg muxes them
onto a few seconds of test pattern, optionally with a text subtitle stream; sidecars as files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CUES = [(0.3, 1.4, "Hello storm world"), (1.6, 2.9, "We never went back")]


def srt_text(cues: list[tuple[float, float, str]] = CUES) -> str:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{k + 1}\n{ts(a)} --> {ts(b)}\n{text}\n\n" for k, (a, b, text) in enumerate(cues))


def vtt_text(cues: list[tuple[float, float, str]] = CUES) -> str:
    return "WEBVTT\n\n" + "".join(f"{_vtt(a)} --> {_vtt(b)}\n{text}\n\n" for a, b, text in cues)


def _vtt(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def have_tools() -> bool:
    return bool(shutil.which("ffmpeg") and shutil.which("espeak-ng"))


def talking_clip(dest: Path, say: str = "we never went back", seconds: float = 3.0,
                 subtitle_cues: list[tuple[float, float, str]] | None = None, sub_codec: str = "mov_text",
                 audio: bool = True, language: str = "eng") -> Path:
    """A tiny video (64x48, 10 fps) with espeak-ng saying `say`, and a text subtitle stream if asked."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.stem}-parts"
    work.mkdir(exist_ok=True)
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc=size=64x48:rate=10:duration={seconds}"]
    maps = ["-map", "0:v"]
    n = 1
    if audio:
        wav = work / "say.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), say], check=True, capture_output=True)
        cmd += ["-i", str(wav)]
        maps += ["-map", f"{n}:a"]
        n += 1
    if subtitle_cues:
        srt = work / "subs.srt"
        srt.write_text(srt_text(subtitle_cues))
        cmd += ["-i", str(srt)]
        maps += ["-map", f"{n}:s", "-metadata:s:s:0", f"language={language}"]
    cmd += maps + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-t", str(seconds)]
    if audio:
        cmd += ["-c:a", "aac", "-af", "apad"]
    if subtitle_cues:
        cmd += ["-c:s", sub_codec]
    cmd.append(str(dest))
    subprocess.run(cmd, check=True, capture_output=True)
    shutil.rmtree(work)
    return dest


def long_talking_clip(dest: Path, seconds: float, say: str = "the river rose over the bridge at night") -> Path:
    """A longer clip (1 fps test pattern) whose audio repeats espeak-ng's sentence with pauses."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.stem}-parts"
    work.mkdir(exist_ok=True)
    wav = work / "say.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), say], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size=64x48:rate=1:duration={seconds}", "-stream_loop", "-1", "-i", str(wav),
                    "-map", "0:v", "-map", "1:a", "-af", "apad=pad_dur=1.5,aresample=16000", "-ac", "1",
                    "-c:v", "libx264", "-g", "1", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(seconds),
                    str(dest)], check=True, capture_output=True)
    shutil.rmtree(work)
    return dest
