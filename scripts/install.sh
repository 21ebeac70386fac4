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
# bubblewrap is the container reward code runs in (README, "Sandbox").
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
      || echo "warning: could not install bubblewrap with apt-get; reward code will run in a weaker sandbox (README, Sandbox)"
  else
    echo "note: bubblewrap (bwrap) is not installed, so reward code runs in a weaker sandbox."
    echo "      Install it with your package manager (Debian/Ubuntu: sudo apt-get install bubblewrap;"
    echo "      Fedora: sudo dnf install bubblewrap; Arch: sudo pacman -S bubblewrap), see README 'Sandbox'."
  fi
fi
# Chromium: the browser tests of the report and of `autoreward studio` drive the system's
# Chromium headless (Playwright never downloads a browser of its own here).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium with apt-get; the browser tests will be skipped"
  else
    echo "note: chromium is not installed, so the browser tests are skipped (outside CI)."
    echo "      Debian/Ubuntu: sudo apt-get install chromium; Fedora: sudo dnf install chromium."
  fi
fi
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
"$VENV/bin/python" -m pip install -q -e ".[dev,ray,warp,manipulation,studio]" ${pin[@]+"${pin[@]}"}
# Compile Crafter's numba world generator once, here, into site-packages: the sandboxed
# workers only read that cache (they cannot write site-packages, nor poison it for others).
"$VENV/bin/python" -c "from autoreward.envs.crafter.env import CrafterEnv; CrafterEnv().reset(seed=0)" \
  >/dev/null 2>&1 || echo "note: could not warm Crafter's numba cache; its first reset per worker is slower"
echo "autoreward installed in $VENV ($("$VENV/bin/autoreward" --version); versions: ${CONSTRAINTS/#none/newest within pyproject.toml})"
