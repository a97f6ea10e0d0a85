"""The unit files pass `systemd-analyze verify` and carry the settings the service relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "systemd"
INSTALLED_BIN = "/opt/reelfind/.venv/bin/"


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values (keys may repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert section is not None
        section.setdefault(key, []).append(value)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    for name, exe in (("reelfind.service", "reelfind"), ("chroma.service", "chroma")):
        if not (venv_bin / exe).exists():
            pytest.skip(f"{exe} not installed next to {sys.executable}")
        # verify insists that ExecStart exists: point it at this checkout's venv.
        text = (UNITS / name).read_text()
        assert INSTALLED_BIN + exe in text
        (tmp_path / name).write_text(text.replace(INSTALLED_BIN, f"{venv_bin}/"))
    r = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr


def test_reelfind_unit_settings() -> None:
    u = _unit("reelfind.service")
    s = u["Service"]
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["ExecStart"] == [INSTALLED_BIN + "reelfind serve"]
    assert "REELFIND_CONFIG=/etc/reelfind/config.toml" in s["Environment"]
    assert s["Restart"] == ["on-failure"] and s["WatchdogSec"] and s["User"] == ["reelfind"]
    for key, value in {"ProtectSystem": "strict", "ProtectHome": "read-only", "PrivateTmp": "yes",
                       "NoNewPrivileges": "yes", "ReadWritePaths": "/var/lib/reelfind",
                       "StateDirectory": "reelfind"}.items():
        assert s[key] == [value], key
    assert s["ReadOnlyPaths"]
    assert u["Install"]["WantedBy"] == ["multi-user.target"]


def test_chroma_unit_settings() -> None:
    s = _unit("chroma.service")["Service"]
    assert s["ExecStart"] == [INSTALLED_BIN + "chroma run --path /var/lib/chroma --host 127.0.0.1 --port 8000"]
    assert s["ProtectSystem"] == ["strict"] and s["ReadWritePaths"] == ["/var/lib/chroma"]
