#!/usr/bin/env bash
# Installs autoreward into ./.venv (created if missing) with the exact versions in
# constraints.txt: the set the whole test suite passed with. pyproject.toml keeps version
# ranges for people who install the package into their own environment.
# torch is installed first: torch==2.13.0 is a CPU wheel; an unpinned `torch` would pull a
# multi-GB CUDA build.
#   VENV=DIR           install into another venv folder (default: .venv)
#   CONSTRAINTS=none   newest versions within pyproject.toml's ranges instead of the tested
#                      ones (e.g. on a Python other than the one constraints.txt was made on)
# constraints.txt is refreshed on purpose with scripts/refresh-constraints.sh (make constraints).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
CONSTRAINTS=${CONSTRAINTS:-constraints.txt}
pin=()
if [ "$CONSTRAINTS" != none ]; then
  pin=(-c "$CONSTRAINTS")
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0" ${pin[@]+"${pin[@]}"}
"$VENV/bin/python" -m pip install -q -e ".[dev,ray]" ${pin[@]+"${pin[@]}"}
echo "autoreward installed in $VENV ($("$VENV/bin/autoreward" --version); versions: ${CONSTRAINTS/#none/newest within pyproject.toml})"
