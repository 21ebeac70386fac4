#!/usr/bin/env bash
# Installs autoreward into ./.venv (created if missing). torch is pinned and installed first:
# torch==2.13.0 is a CPU wheel; an unpinned `torch` would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,ray,warp]"
echo "autoreward installed in .venv ($(.venv/bin/autoreward --version))"
