#!/usr/bin/env bash
# Sets up reelfind in ./.venv (Python 3.11+): torch, then the package with its dependencies,
# at the versions CI tested (constraints.txt), so a release upstream cannot break an install.
# Usage: ./install.sh          runtime only
#        ./install.sh --test   also pytest, ruff and the browser-test driver
#        ./install.sh --lock   re-resolve the newest versions pyproject.toml allows in a scratch
#                              venv and rewrite constraints.txt (then run the tests and commit it)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "reelfind needs Python 3.11+"'
# torchvision must match torch exactly (open_clip imports it). These pairs are known to work here;
# torch differs per CPU architecture, so it is pinned here and left out of constraints.txt.
case "$(uname -m)" in
  aarch64|arm64) TORCH="torch==2.9.1 torchvision==0.24.1" ;;
  *)             TORCH="torch==2.14.1 torchvision==0.29.1" ;;
esac
EXTRAS=".[test]"

if [ "${1:-}" = "--lock" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  "$PY" -m venv "$scratch/venv"
  "$scratch/venv/bin/python" -m pip install -q --upgrade pip
  "$scratch/venv/bin/python" -m pip install -q $TORCH
  "$scratch/venv/bin/python" -m pip install -q "$EXTRAS"
  {
    echo "# Versions CI tested; install.sh installs with -c constraints.txt. Regenerate: ./install.sh --lock"
    echo "# torch/torchvision (and the CUDA wheels they pull in) are pinned per architecture in install.sh."
    "$scratch/venv/bin/python" -m pip freeze --exclude-editable \
      | grep -viE '^(reelfind|torch|torchvision|triton|nvidia-|cuda-)'
  } > constraints.txt
  echo "constraints.txt rewritten: run the tests, then commit it" >&2
  exit 0
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -c 'import torch, torchvision' 2>/dev/null || .venv/bin/python -m pip install -q $TORCH
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -c constraints.txt -e "$EXTRAS"
else
  .venv/bin/python -m pip install -q -c constraints.txt -e .
fi
echo "reelfind installed: $(.venv/bin/reelfind --help >/dev/null && echo .venv/bin/reelfind)" >&2
