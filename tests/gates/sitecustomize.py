"""A test seam for `reelfind serve` subprocesses (tests/test_serve_startup.py).

With RF_TEST_MODEL_GATE=<file> in the environment (and this folder on PYTHONPATH), the model load
waits until that file exists: a test can then look at the service *while* the model is loading (a
slow download, a big model on a slow disk) and let it finish when it is done looking, instead of
racing a tiny model that loads in a fraction of a second. Without the variable this does nothing.
"""

import os

_gate = os.environ.get("RF_TEST_MODEL_GATE")
if _gate:
    import time

    import reelcore.channels.visual.embedder as _embedder

    _real_load = _embedder.Embedder._load_locked

    def _gated_load(self):  # type: ignore[no-untyped-def]
        while not os.path.exists(_gate):
            time.sleep(0.02)
        _real_load(self)

    _embedder.Embedder._load_locked = _gated_load
