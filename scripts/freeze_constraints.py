"""Print the exact versions installed in this Python environment as a pip constraints file.

Used by scripts/refresh-constraints.sh on the venv that just passed the test suite. Local
version labels are dropped (`torch==2.13.0+cpu` becomes `torch==2.13.0`), so the file also
fits platforms whose wheels carry no label.
"""

from __future__ import annotations

import platform
import sys
from datetime import date
from importlib.metadata import distributions

SKIP = {"autoreward", "pip", "setuptools", "wheel"}
"""Left out: the package itself, and the venv's own tooling (as `pip freeze` does)."""


def main() -> None:
    pins: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if not name or name.lower().replace("_", "-") in SKIP:
            continue
        pins[name] = dist.version.split("+", 1)[0]
    print(
        "# Versions autoreward's test suite passed with, for scripts/install.sh (pip -c).\n"
        f"# Made on {date.today().isoformat()} with Python {platform.python_version()} on "
        f"{sys.platform}/{platform.machine()} by scripts/refresh-constraints.sh; do not edit by\n"
        "# hand: change pyproject.toml, then run `make constraints` and commit both files."
    )
    for name in sorted(pins, key=str.lower):
        print(f"{name}=={pins[name]}")


if __name__ == "__main__":
    main()
