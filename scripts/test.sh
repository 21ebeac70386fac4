#!/usr/bin/env bash
# Runs the test suite (no network, no API key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q -ra "$@"
