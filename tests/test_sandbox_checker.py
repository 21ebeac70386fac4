"""The reward dry run: each check, its message, and the isolated entry point."""

from __future__ import annotations

import numpy as np
import pytest

from autoreward.envs.registry import load_schema
from autoreward.sandbox.checker import CheckReport, check_reward, check_reward_isolated
from autoreward.sandbox.worker import Limits

HOPPER = """
import numpy as np


def compute_reward(state, action, next_state):
    forward = next_state["x_velocity"]
    healthy = np.where(next_state["torso_height"] > 0.7, 1.0, 0.0)
    upright = -0.5 * np.square(next_state["torso_angle"])
    ctrl = -1e-3 * np.sum(np.square(action), axis=-1)
    total = forward + healthy + upright + ctrl
    return total, {"forward": forward, "healthy": healthy, "upright": upright, "ctrl": ctrl}
"""

PENDULUM_HEAD = "import numpy as np\n\n\ndef compute_reward(state, action, next_state):\n"


def _pendulum(body: str) -> str:
    return PENDULUM_HEAD + "".join(f"    {line}\n" for line in body.strip().splitlines())


def _check(src: str, env_id: str = "Pendulum-v1", **kw: object) -> CheckReport:
    return check_reward(src, load_schema(env_id), n_states=32, **kw)  # type: ignore[arg-type]


def _item(report: CheckReport, name: str) -> tuple[str, str]:
    (item,) = [c for c in report.checks if c.name == name]
    return item.status, item.message


def test_a_sensible_hopper_reward_passes_every_check() -> None:
    report = check_reward(HOPPER, load_schema("Hopper-v5"), n_states=64)
    assert report.ok, report.summary_text()
    names = [c.name for c in report.checks]
    assert names == [
        "static", "load", "sample", "call", "return type", "components", "shapes and dtypes",
        "finite", "terms sum to total", "value ranges", "inputs untouched", "deterministic",
        "batch independence", "action sensitivity", "state sensitivity", "speed",
    ]  # fmt: skip
    assert set(report.components) == {"forward", "healthy", "upright", "ctrl"}
    ctrl = report.components["ctrl"]
    assert ctrl.max <= 0 and ctrl.min < ctrl.max
    assert report.total is not None and report.n_states == 64
    assert report.ms_per_call is not None and report.ms_per_call > 0
    assert _item(report, "action sensitivity") == ("pass", "reacts to the action through ctrl")


def test_static_violation_stops_before_anything_runs() -> None:
    report = _check("import os\n" + HOPPER)
    assert not report.ok
    assert [c.name for c in report.checks] == ["static"]
    assert "line 1, col 0: import os: only numpy and math may be imported" in report.failure_text()


def test_error_at_load_names_the_line() -> None:
    report = _check(
        "import numpy as np\nSCALE = np.log(-1) + [1][3]\n" + PENDULUM_HEAD + "    return 0, {}\n"
    )
    status, msg = _item(report, "load")
    assert status == "fail"
    assert (
        "IndexError: list index out of range" in msg
        and "(line 2: `SCALE = np.log(-1) + [1][3]`)" in msg
    )


def test_exception_names_the_line_and_the_available_keys() -> None:
    report = _check(_pendulum('up = next_state["theta"]\nreturn up, {"up": up}'))
    status, msg = _item(report, "call")
    assert status == "fail"
    assert msg.startswith(
        "compute_reward raised KeyError: 'theta' (line 5: `up = next_state[\"theta\"]`)"
    )
    assert "state keys are: angular_velocity, cos_theta, sin_theta" in msg


def test_endless_call_hits_the_per_call_deadline() -> None:
    report = _check(_pendulum("while True:\n    pass"), deadline_s=0.3)
    assert _item(report, "call") == (
        "fail",
        "compute_reward did not return within the 0.3 s limit for one call (an endless loop?)",
    )


@pytest.mark.parametrize(
    ("body", "check", "expected"),
    [
        ('return {"up": next_state["cos_theta"]}', "return type", "expected (total, terms)"),
        ('return next_state["cos_theta"], [1]', "return type", "got tuple of length 2"),
        ('return 1.0, {}', "shapes and dtypes", "total has shape (), expected (32,)"),
        ('x = next_state["cos_theta"][:, None]\nreturn x, {"x": x}', "shapes and dtypes",
         "drop the trailing axis"),
        ('x = np.stack([next_state["cos_theta"]] * 2, axis=1)\nreturn x[:, 0], {"x": x}',
         "shapes and dtypes", "component 'x' has shape (32, 2), expected (32,)"),
        ('x = np.where(next_state["cos_theta"] > 0, "a", "b")\nreturn x, {}', "shapes and dtypes",
         "total has dtype <U1, expected float"),
        ('x = next_state["cos_theta"]\nreturn x, {1: x}', "components", "component names must be strings"),
        ('x = np.log(next_state["cos_theta"] - 2)\nreturn x, {"x": x}', "finite",
         "NaN or inf in total: 32/32 non-finite; x: 32/32 non-finite"),
        ('x = next_state["cos_theta"]\nreturn 2 * x, {"x": x}', "terms sum to total",
         "sum of components differs from total"),
        ('x = next_state["cos_theta"]\nx += 1\nreturn x, {"x": x}', "call",
         "are read-only: compute new arrays"),
    ],
)  # fmt: skip
def test_hard_failures(body: str, check: str, expected: str) -> None:
    report = _check(_pendulum(body))
    assert not report.ok
    status, msg = _item(report, check)
    assert status == "fail" and expected in msg, msg


def test_nondeterminism_through_module_state_fails() -> None:
    src = "import numpy as np\nCALLS = [0]\n\n\ndef compute_reward(state, action, next_state):\n" \
          "    CALLS[0] += 1\n    x = next_state['cos_theta'] * CALLS[0]\n    return x, {'x': x}\n"  # fmt: skip
    assert _item(_check(src), "deterministic")[0] == "fail"


@pytest.mark.parametrize(
    ("body", "check", "expected"),
    [
        ('x = next_state["cos_theta"] - np.mean(next_state["cos_theta"])\nreturn x, {"x": x}',
         "batch independence", "normalising over the batch"),
        ('x = next_state["cos_theta"]\nreturn x, {"x": x}', "action sensitivity",
         "no component reacts to the action"),
        ('x = -np.sum(np.square(action), axis=-1)\nreturn x, {"ctrl": x}', "state sensitivity",
         "it ignores the state"),
        ('x = 1e4 * next_state["cos_theta"]\nreturn x, {"x": x}', "value ranges", "large rewards"),
        ('up = next_state["cos_theta"]\nb = np.ones_like(up)\nreturn up + b, {"up": up, "alive": b}',
         "value ranges", "'alive' is 1 in all 32 sampled states"),
        ('x = next_state["cos_theta"]\nreturn x, {}', "components", "no components"),
    ],
)  # fmt: skip
def test_soft_problems_are_warnings(body: str, check: str, expected: str) -> None:
    report = _check(_pendulum(body))
    assert report.ok, report.failure_text()
    status, msg = _item(report, check)
    assert status == "warn" and expected in msg, msg
    assert f"[warn] {check}: " in report.summary_text()


def test_discrete_actions_skip_the_action_sensitivity_check() -> None:
    src = (
        PENDULUM_HEAD
        + '    x = 1.0 - np.abs(next_state["pole_angle"])\n    return x, {"alive": x}\n'
    )
    report = _check(src, "CartPole-v1")
    assert report.ok
    assert _item(report, "action sensitivity") == (
        "pass",
        "skipped: discrete actions act through next_state",
    )


def test_given_transitions_replace_sampling() -> None:
    n = 8
    state = {
        "cos_theta": np.linspace(-1, 1, n),
        "sin_theta": np.zeros(n),
        "angular_velocity": np.zeros(n),
    }
    action = np.linspace(-2, 2, n)[:, None]
    src = _pendulum('x = next_state["cos_theta"] - 0.1 * action[:, 0] ** 2\nreturn x, {"x": x}')
    report = check_reward(src, load_schema("Pendulum-v1"), transitions=(state, action, dict(state)))
    assert report.ok and report.n_states == n
    assert report.components["x"].max == pytest.approx(0.6)


def test_report_round_trips_through_json() -> None:
    report = _check(_pendulum('x = next_state["cos_theta"]\nreturn x, {"x": x}'))
    again = CheckReport.model_validate_json(report.model_dump_json())
    assert again == report


def test_isolated_check_passes_a_good_reward_and_names_its_sandbox() -> None:
    report = check_reward_isolated(HOPPER, "Hopper-v5")
    assert report.ok, report.summary_text()
    assert report.env_id == "Hopper-v5" and report.isolation


def test_isolated_check_turns_a_killed_worker_into_a_failed_check() -> None:
    src = _pendulum("while True:\n    try:\n        pass\n    except:\n        pass")
    limits = Limits(
        cpu_seconds=30, address_space_mb=2048, file_size_mb=8, max_processes=32, wall_seconds=4
    )
    report = check_reward_isolated(src, "Pendulum-v1", limits=limits, deadline_s=60)
    assert not report.ok
    assert [c.name for c in report.checks] == ["static", "sandbox"]
    assert report.failure_text() == (
        "sandbox: the dry run did not finish within 4 s (an endless loop in compute_reward?)"
    )


# ---- issue 17: component count and names are refused up front, whoever reports them


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ('{f"c{i}": x * 0.0 for i in range(65)}', "at most 64 components, got 65"),
        ('{"n" * 81: x}', "at most 80 characters, got one of 81"),
        ('{"ok\\x1b]52;c;aGVsbG8=\\x07": x}', "control characters or terminal escapes"),
        ('{"clear\\x1b[2J": x}', "control characters or terminal escapes"),
        ('{"": x}', "must not be empty"),
    ],
)
def test_too_many_components_and_bad_names_fail_the_check(terms: str, message: str) -> None:
    report = _check(_pendulum(f'x = next_state["cos_theta"]\nreturn x, {terms}'))
    assert not report.ok
    status, text = _item(report, "components")
    assert status == "fail" and message in text
    assert "\x1b" not in report.summary_text()


def test_a_forged_worker_report_with_bad_names_is_a_failure_not_a_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autoreward.sandbox import checker
    from autoreward.sandbox.worker import WorkerResult

    stats = {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
    forged = {"ok": True, "checks": [], "components": {f"c{i}": stats for i in range(3000)}}
    escaped = {"ok": True, "checks": [], "components": {"\x1b]52;c;aGk=\x07x": stats}}
    for value in (forged, escaped):
        result = WorkerResult(ok=True, status="ok", value=value)
        monkeypatch.setattr(checker, "run_isolated", lambda *a, _r=result, **k: _r)
        report = check_reward_isolated(HOPPER, load_schema("Hopper-v5"))
        assert not report.ok
        assert "the dry run's report" in report.failure_text()
        assert "\x1b" not in report.failure_text()
