"""The install is reproducible: constraints.txt pins every dependency pyproject.toml declares,
to a version inside its range, and scripts/install.sh installs with it (torch first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[1]
REFRESH = "run `make constraints` (scripts/refresh-constraints.sh) and commit constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;+]+)", line.strip())
        assert m, f"constraints.txt: {line!r} is not NAME==VERSION (no URLs, no local labels)"
        pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in ("dev", "ray", "manipulation"):  # what scripts/install.sh installs
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def test_every_declared_dependency_is_pinned_inside_its_range() -> None:
    pins = _pins()
    problems = []
    for req in _declared():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is in pyproject.toml but not in constraints.txt")
        elif not req.specifier.contains(Version(pins[name]), prereleases=True):
            problems.append(f"{req.name}=={pins[name]} is outside pyproject.toml's {req}")
    assert not problems, "; ".join(problems) + f": {REFRESH}"


def test_torch_is_the_cpu_release_without_a_local_label() -> None:
    assert _pins()["torch"] == "2.13.0"


def test_install_script_uses_the_constraints_and_installs_torch_first() -> None:
    script = (ROOT / "scripts" / "install.sh").read_text()
    steps = [
        line for line in script.splitlines() if "pip install" in line and "upgrade pip" not in line
    ]
    assert (
        len(steps) == 2
        and '"torch==2.13.0"' in steps[0]
        and '".[dev,ray,warp,manipulation,studio]"' in steps[1]
    )
    assert all("${pin[@]" in step for step in steps)
    assert "CONSTRAINTS=${CONSTRAINTS:-constraints.txt}" in script
    assert 'pin=(-c "$CONSTRAINTS")' in script
