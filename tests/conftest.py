"""Shared test fixtures: a tiny random-weight open_clip model through the real code path."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from reelcore.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = REPO.parent / "shared" / "footage"
BAD = FOOTAGE / "bad"
TINY_MODEL_CONFIG = REPO / "tests" / "assets" / "reelfind-tiny.json"
TINY_MODEL = {"name": "reelfind-tiny", "pretrained": "none", "config_path": str(TINY_MODEL_CONFIG)}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov"}


# The text and people channels (OCR, faces) are on by default for users; tests of other parts
# switch them off so each test does only the work it is about (a face pass costs many times a
# decode). Their own tests switch them on (`channels=` / REELFIND_CHANNELS__PEOPLE__ENABLED=true).
COSTLY_CHANNELS = ("text", "people")
# Speech from subtitles only unless a test asks for ASR (its default model cannot be downloaded here).
TEST_SPEECH_SOURCES = ["sidecar", "stream"]


def tiny_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a `reelfind` subprocess using the tiny model and a private data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFIND_")}
    env.update(
        REELFIND_DATA_DIR=str(data_dir),
        REELFIND_MODEL__NAME=TINY_MODEL["name"],
        REELFIND_MODEL__PRETRAINED="none",
        REELFIND_MODEL__CONFIG_PATH=str(TINY_MODEL_CONFIG),
    )
    env.update({f"REELFIND_CHANNELS__{c.upper()}__ENABLED": "false" for c in COSTLY_CHANNELS})
    env["REELFIND_CHANNELS__SPEECH__SOURCES"] = json.dumps(TEST_SPEECH_SOURCES)
    env.update(extra)
    return env


def tiny_settings(data_dir: Path, **overrides) -> Settings:
    overrides.setdefault("model", dict(TINY_MODEL))
    channels = dict(overrides.get("channels") or {})
    for c in COSTLY_CHANNELS:
        channels.setdefault(c, {"enabled": False})
    channels["speech"] = {"sources": TEST_SPEECH_SOURCES, **(channels.get("speech") or {})}
    overrides["channels"] = channels
    return load_settings(None, data_dir=data_dir, **overrides)


def real_clips() -> list[Path]:
    return sorted(p for p in FOOTAGE.iterdir() if p.suffix in VIDEO_SUFFIXES)


@pytest.fixture(autouse=True)
def _no_reelfind_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's REELFIND_* environment must not leak into tests."""
    for k in list(os.environ):
        if k.startswith("REELFIND_"):
            monkeypatch.delenv(k)


@pytest.fixture(scope="session")
def footage() -> Path:
    if not FOOTAGE.is_dir():
        pytest.skip(f"shared footage not found at {FOOTAGE}")
    return FOOTAGE


def copy_clips(names: list[str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        src = FOOTAGE / n
        out.append(Path(shutil.copy(src, dest / src.name)))
    return out
