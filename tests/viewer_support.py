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
from collections.abc import Callable, Iterator
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


def wait_status(served: Served, proc: subprocess.Popen, done: Callable[[dict[str, Any]], bool],
                what: str, timeout: float = 240.0) -> None:
    """Until `done(GET /status)` is true (fails at once when the service exits, with its log)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"reelfind serve exited with {proc.returncode}: {served.log.read_text()[-3000:]}")
        try:
            last = served.get("/status", timeout=5).json()
            if done(last):
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} not within {timeout} s (status {last}): {served.log.read_text()[-2000:]}")


@contextmanager
def serving(data: Path, roots: list[dict[str, Any]], inbox: Path, done: Callable[[dict[str, Any]], bool],
            what: str, token: str = TOKEN, timeout: float = 240.0, **env_extra: str) -> Iterator[Served]:
    """`reelfind serve` (a real subprocess, tiny model, token set) over `roots` on a free loopback
    port, ready once `done(status)`; stopped with SIGTERM on exit (killed if it hangs)."""
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    log = data / "serve.log"
    env = tiny_env(data, REELFIND_ROOTS=json.dumps(roots), REELFIND_SERVER__PORT=str(port),
                   REELFIND_SERVER__TOKEN=token, **env_extra)
    exe = Path(sys.executable).with_name("reelfind")
    with open(log, "ab") as err:
        proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=str(data))
    served = Served(f"http://127.0.0.1:{port}", token, data, log, inbox)
    try:
        wait_status(served, proc, done, what, timeout)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _footage_done(st: dict[str, Any]) -> bool:
    """Every file of the footage looked at (indexed or failed), nothing left, the model loaded."""
    c = st["counts"]
    return c["indexed"] >= 19 and c["failed"] >= 3 and c["pending"] == 0 and c["indexing"] == 0 \
        and bool(st.get("model_loaded"))


@contextmanager
def serve_footage(base: Path) -> Iterator[Served]:
    """`reelfind serve` over a copy of the shared-footage index (built once per test run), with a
    second, empty root (`inbox`) for tests that drop files in."""
    if not FOOTAGE.is_dir():
        pytest.skip(f"shared footage not found at {FOOTAGE}")
    index = footage_index(base).data_dir
    data = Path(tempfile.mkdtemp(prefix="viewer-data-", dir=base))
    shutil.copytree(index, data, dirs_exist_ok=True)
    (data / "reelfind.lock").unlink(missing_ok=True)
    inbox = data / "inbox"
    inbox.mkdir()
    roots = [{"path": str(FOOTAGE)}, {"path": str(inbox), "stable_seconds": 0.5}]
    with serving(data, roots, inbox, _footage_done, "the footage indexed") as served:
        yield served


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
