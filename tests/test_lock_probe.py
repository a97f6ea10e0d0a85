"""Issue 19, item 3: probing the data-dir lock must never make a real acquire fail.

`is_locked()` runs on every bridged MCP request and every `reelfind status`; before the fix it
probed by taking a shared flock for a moment, so an `acquire()` that overlapped a probe was refused
with StoreLocked naming a stale (or its own) pid although nobody owned the index.
"""

from __future__ import annotations

import subprocess
import sys
import threading

from reelcore.lock import DataDirLock, StoreLocked, is_locked

CYCLES = 2000

PROBER = """
import sys
from pathlib import Path
from reelcore.lock import is_locked
path = Path(sys.argv[1])
is_locked(path)
print("probing", flush=True)
while True:
    is_locked(path)
"""


def _cycles(path, n: int) -> list[str]:
    refusals = []
    for _ in range(n):
        lock = DataDirLock(path)
        try:
            lock.acquire("index")
        except StoreLocked as e:
            refusals.append(str(e))
            continue
        lock.release()
    return refusals


def test_probes_from_a_thread_and_a_process_never_refuse_a_free_index(tmp_path):
    path = tmp_path / "reelfind.lock"
    with DataDirLock(path) as first:  # the file exists, as after any earlier run
        first.acquire("index")
    stop = threading.Event()
    probes = 0

    def probe() -> None:
        nonlocal probes
        while not stop.is_set():
            is_locked(path)
            probes += 1

    prober = subprocess.Popen([sys.executable, "-c", PROBER, str(path)], stdout=subprocess.PIPE, text=True)
    thread = threading.Thread(target=probe, daemon=True)
    try:
        assert prober.stdout.readline().strip() == "probing"
        thread.start()
        refusals = _cycles(path, CYCLES)
    finally:
        stop.set()
        prober.kill()
        prober.wait()
        thread.join()
    assert probes > 0
    assert refusals == [], f"{len(refusals)} spurious refusals in {CYCLES} acquires, e.g. {refusals[0]}"


def test_the_probe_still_sees_a_real_owner_in_this_and_another_process(tmp_path):
    path = tmp_path / "reelfind.lock"
    assert not is_locked(path)  # no file yet
    lock = DataDirLock(path)
    lock.acquire("serve", "http://127.0.0.1:9/mcp")
    try:
        assert is_locked(path)
        probe = ("import sys; from pathlib import Path; from reelcore.lock import is_locked; "
                 "print(is_locked(Path(sys.argv[1])))")
        out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "True"
        try:
            DataDirLock(path).acquire("index")
        except StoreLocked as e:
            assert e.owner["command"] == "serve"
        else:
            raise AssertionError("a second acquire while owned must be refused")
        assert is_locked(path)  # reading the owner record through another descriptor keeps the lock
    finally:
        lock.release()
    assert not is_locked(path)
