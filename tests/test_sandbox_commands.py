"""`autoreward check`: report, exit codes, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.errors import ConfigError, UnknownEnvError
from autoreward.sandbox.commands import check_command

runner = CliRunner()

GOOD = """
import numpy as np


def compute_reward(state, action, next_state):
    upright = next_state["cos_theta"]
    ctrl = -0.001 * np.sum(np.square(action), axis=-1)
    return upright + ctrl, {"upright": upright, "ctrl": ctrl}
"""

HOSTILE = """
import numpy as np


def compute_reward(state, action, next_state):
    leak = np.fromfile("/proc/self/environ", dtype=np.uint8)
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
"""


def _write(tmp_path: Path, src: str) -> Path:
    path = tmp_path / "reward.py"
    path.write_text(src)
    return path


def test_a_good_reward_prints_the_report_and_exits_0(tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    assert check_command(console, _write(tmp_path, GOOD), "Pendulum-v1", n_states=32) == 0
    out = console.export_text()
    assert "check reward.py on Pendulum-v1 (32 states)" in out
    assert "terms sum to total" in out and "components add up to the total" in out
    assert "components over the sampled states" in out and "ctrl" in out
    assert "ms per call on 32 states" in out
    assert "sandbox: " in out and "PASSED" in out


def test_a_hostile_reward_fails_with_the_reason_and_exits_1(tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    assert check_command(console, _write(tmp_path, HOSTILE), "Pendulum-v1") == 1
    out = console.export_text()
    assert "FAIL" in out and "np.fromfile: numpy file I/O is not allowed" in out
    assert "FAILED: 1 check failed" in out


def test_missing_file_unknown_env_and_bad_state_count_are_clear_errors(tmp_path: Path) -> None:
    console = Console(record=True)
    with pytest.raises(ConfigError, match="reward file not found: .*nope.py"):
        check_command(console, tmp_path / "nope.py", "Pendulum-v1")
    with pytest.raises(ConfigError, match="not a file"):
        check_command(console, tmp_path, "Pendulum-v1")
    with pytest.raises(UnknownEnvError, match="unknown environment 'Pendulumm-v1'"):
        check_command(console, _write(tmp_path, GOOD), "Pendulumm-v1")
    with pytest.raises(ConfigError, match="--states must be between 2 and 4096, got 1"):
        check_command(console, _write(tmp_path, GOOD), "Pendulum-v1", n_states=1)


def test_cli_exit_codes(tmp_path: Path) -> None:
    good = _write(tmp_path, GOOD)
    assert (
        runner.invoke(app, ["check", str(good), "--env", "Pendulum-v1", "--states", "16"]).exit_code
        == 0
    )
    hostile = tmp_path / "hostile.py"
    hostile.write_text(HOSTILE)
    assert runner.invoke(app, ["check", str(hostile), "--env", "Pendulum-v1"]).exit_code == 1
    res = runner.invoke(app, ["check", str(tmp_path / "missing.py"), "--env", "Pendulum-v1"])
    assert res.exit_code == 2 and "reward file not found" in res.output


def test_component_names_print_as_plain_text_not_markup_or_escapes() -> None:
    from autoreward.sandbox.checker import CheckReport
    from autoreward.sandbox.commands import print_report

    stats = {"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0}
    report = CheckReport.model_validate(
        {"ok": True, "components": {"[bold red]$\\frac{$[/]": stats}, "checks": []}
    )
    console = Console(record=True, force_terminal=True, width=120)
    print_report(console, report)
    text = console.export_text()
    assert "[bold red]$\\frac{$[/]" in text
    with pytest.raises(ValueError, match="terminal escapes"):
        CheckReport.model_validate({"ok": True, "components": {"\x1b[2Jx": stats}})
