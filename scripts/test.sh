#!/usr/bin/env bash
# Runs the test suite (no network, no API key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl} LITELLM_LOCAL_MODEL_COST_MAP=True
exec .venv/bin/python -m pytest -q -ra "$@"
