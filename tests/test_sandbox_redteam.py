"""The red-team corpus (`tests/redteam/*.py`): every hostile or broken reward program is
rejected statically or contained at run time, with the reason its header promises.

Header format, first line of each program:
    # expect: static: <text in one of the violations>
    # expect: runtime: <name of the first failing check>: <text in its message>
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autoreward.envs.registry import load_schema
from autoreward.errors import RewardCodeError
from autoreward.sandbox.checker import check_reward_isolated
from autoreward.sandbox.loader import load_reward_fn
from autoreward.sandbox.validate import validate_code
from autoreward.sandbox.worker import Limits

CORPUS = sorted((Path(__file__).parent / "redteam").glob("*.py"))
HEADER = re.compile(r"^# expect: (static|runtime): (.+)$")
ENV_ID = "Pendulum-v1"
LIMITS = Limits(
    cpu_seconds=20,
    address_space_mb=2048,
    file_size_mb=16,
    max_processes=32,
    wall_seconds=40,
    reward_call_seconds=3.0,
)
DEADLINE_S = 1.5


def _expect(path: Path) -> tuple[str, str]:
    match = HEADER.match(path.read_text().splitlines()[0])
    assert match, f"{path.name}: first line must be '# expect: static|runtime: ...'"
    return match.group(1), match.group(2)


STATIC = [p for p in CORPUS if _expect(p)[0] == "static"]
RUNTIME = [p for p in CORPUS if _expect(p)[0] == "runtime"]


def test_the_corpus_covers_both_layers() -> None:
    assert len(CORPUS) >= 25
    assert len(STATIC) >= 20 and len(RUNTIME) >= 10


@pytest.mark.parametrize("path", STATIC, ids=[p.stem for p in STATIC])
def test_rejected_statically_with_the_expected_reason(path: Path) -> None:
    src = path.read_text()
    text = _expect(path)[1]
    violations = [str(v) for v in validate_code(src)]
    assert any(text in v for v in violations), f"expected {text!r} in {violations}"
    with pytest.raises(RewardCodeError, match="rejected by the static check"):
        load_reward_fn(src)
    report = check_reward_isolated(src, ENV_ID, limits=LIMITS)
    assert not report.ok
    assert [c.name for c in report.checks] == ["static"]  # no worker was started
    assert text in report.checks[0].message


@pytest.mark.parametrize("path", RUNTIME, ids=[p.stem for p in RUNTIME])
def test_contained_at_run_time_with_the_expected_reason(path: Path) -> None:
    src = path.read_text()
    check, _, text = _expect(path)[1].partition(": ")
    assert validate_code(src) == [], "a runtime case must pass the static check"
    report = check_reward_isolated(src, load_schema(ENV_ID), limits=LIMITS, deadline_s=DEADLINE_S)
    assert not report.ok
    first = report.failures[0]
    assert first.name == check, report.summary_text()
    assert text in first.message, report.summary_text()
    assert report.isolation, "the report must say which sandbox it ran in"
