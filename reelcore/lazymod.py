"""A module imported on first attribute use: `from .lazymod import numpy as np`.

`reelfind index` on an unchanged folder touches the store and embedder modules but never an array;
numpy's import (with its BLAS) is 0.1-0.5 s of a start-up that should take well under a second.
Unlike importlib.util.LazyLoader this puts nothing in sys.modules: other code is unaffected.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)  # a dict lookup once imported

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


numpy: Any = LazyModule("numpy")
