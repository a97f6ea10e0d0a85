"""Helpers for the viewer tests (no tests here): a real `reelfind serve` on ../shared/footage with a
bearer token, and a headless Chromium (Debian chromium + chromedriver) driven by Selenium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FOOTAGE, REPO, tiny_env
from tests.mcp_support import footage_index, free_port

TOKEN = "viewer-test-token"
CHROMIUM = os.environ.get("REELFIND_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REELFIND_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("REELFIND_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    token: str
    data_dir: Path
    log: Path
    inbox: Path  # a second, empty root: tests drop files here to watch live indexing

    def get(self, path: str, auth: bool = True, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        kw.setdefault("timeout", 120)
        return httpx.get(self.base + path, headers=headers, **kw)

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"


def _wait_ready(served: Served, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    """Until /status says every file of the footage was looked at (indexed or failed) and idle."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"reelfind serve exited with {proc.returncode}: {served.log.read_text()[-3000:]}")
        try:
            st = served.get("/status", timeout=5).json()
            last = st.get("counts")
            c = st["counts"]
            if c["indexed"] >= 19 and c["failed"] >= 3 and c["pending"] == 0 and c["indexing"] == 0 \
                    and st.get("model_loaded"):
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    pytest.fail(f"reelfind serve did not finish indexing the footage in {timeout} s (counts {last})")


@contextmanager
def serve_footage(base: Path) -> Iterator[Served]:
    """`reelfind serve` (a real subprocess, tiny model, token set) over a copy of the shared-footage
    index (built once per test run), on a free loopback port; stopped with SIGTERM on exit."""
    if not FOOTAGE.is_dir():
        pytest.skip(f"shared footage not found at {FOOTAGE}")
    index = footage_index(base).data_dir
    data = Path(tempfile.mkdtemp(prefix="viewer-data-", dir=base))
    shutil.copytree(index, data, dirs_exist_ok=True)
    (data / "reelfind.lock").unlink(missing_ok=True)
    port = free_port()
    log = data / "serve.log"
    inbox = data / "inbox"
    inbox.mkdir()
    roots = [{"path": str(FOOTAGE)}, {"path": str(inbox), "stable_seconds": 0.5}]
    env = tiny_env(data, REELFIND_ROOTS=json.dumps(roots), REELFIND_SERVER__PORT=str(port),
                   REELFIND_SERVER__TOKEN=TOKEN)
    exe = Path(sys.executable).with_name("reelfind")
    with open(log, "ab") as err:
        proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=str(data))
    served = Served(f"http://127.0.0.1:{port}", TOKEN, data, log, inbox)
    try:
        _wait_ready(served, proc)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def chromium_version() -> str:
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout
    drv = subprocess.run([CHROMEDRIVER, "--version"], capture_output=True, text=True, timeout=30).stdout
    return f"{out.strip()} / {drv.strip()}"


@contextmanager
def chrome(width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A headless Chromium with a private profile; its console log is captured (get_log('browser'))."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="viewer-chrome-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in [*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        # --window-size counts the (invisible) window frame: size the viewport itself exactly.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def wait_js(driver: Any, script: str, timeout: float = 60.0, what: str = "", *args: Any) -> Any:
    """Poll a JS expression (`return ...`) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or script}")
        time.sleep(0.1)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(driver: Any, name: str, full_page: bool = False) -> Path:
    """Save a PNG under the artifacts folder (the viewport, or the whole page)."""
    import base64

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        driver.save_screenshot(str(path))
    return path
