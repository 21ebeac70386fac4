#!/usr/bin/env bash
# Runs the test suite (no network, no API key needed). VENV=DIR tests another venv (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl} LITELLM_LOCAL_MODEL_COST_MAP=True
exec "${VENV:-.venv}/bin/python" -m pytest -q -ra "$@"
