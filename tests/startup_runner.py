"""Run one `reelfind` command in this process, then print `MODULES <json list of sys.modules>`.

    python -m tests.startup_runner index FOLDER --json

Calls the CLI's typer app exactly as the console script does (without main()'s fast exit, so the
module list can be printed afterwards). Used by tests/test_startup_lazy.py.
"""

from __future__ import annotations

import json
import sys

from reelfind.cli import app


def run() -> int:
    code = 0
    try:
        rv = app(sys.argv[1:], standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    sys.stdout.flush()
    print("MODULES " + json.dumps(sorted(sys.modules)))
    return code


if __name__ == "__main__":
    sys.exit(run())
