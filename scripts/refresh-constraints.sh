#!/usr/bin/env bash
# Regenerates constraints.txt on purpose (`make constraints`): installs autoreward into a fresh
# venv (.venv-constraints), runs the whole test suite there, and writes that venv's exact
# versions to constraints.txt only if the tests pass. Run it after a change to the
# dependencies in pyproject.toml (a new package, a changed range, a branch merged that adds
# one) and commit constraints.txt with that change; tests/test_constraints.py fails until then.
#   (default)      keep the versions pinned now; packages new to pyproject.toml get the newest
#                  version their range allows
#   --upgrade      ignore the current pins: the newest versions within pyproject.toml's ranges
#   --skip-tests   write the file without running the tests (to look at a resolution only)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-constraints
upgrade=0
tests=1
for arg in "$@"; do
  case $arg in
    --upgrade) upgrade=1 ;;
    --skip-tests) tests=0 ;;
    *) echo "unknown option $arg (use --upgrade, --skip-tests)" >&2; exit 2 ;;
  esac
done
base=constraints.txt
if [ $upgrade = 1 ] || [ ! -f constraints.txt ]; then
  base=none
fi
rm -rf "$VENV"
if ! VENV=$VENV CONSTRAINTS=$base bash scripts/install.sh; then
  echo "the install failed with the current pins; try: bash scripts/refresh-constraints.sh --upgrade" >&2
  exit 1
fi
if [ $tests = 1 ]; then
  VENV=$VENV bash scripts/test.sh
fi
"$VENV/bin/python" scripts/freeze_constraints.py > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "wrote constraints.txt ($(grep -c '==' constraints.txt) packages) from $VENV"
