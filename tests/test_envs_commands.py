"""`autoreward envs list` / `envs show` through the real CLI."""

from __future__ import annotations

from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.envs.registry import load_schema, render_schema

runner = CliRunner()


def test_show_hopper_lists_torso_and_contact_fields() -> None:
    result = runner.invoke(app, ["envs", "show", "Hopper-v5"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in (
        "torso_x",
        "torso_height",
        "torso_angle",
        "x_velocity",
        "foot_contact",
        "foot_contact_force",
    ):
        assert f"| {name} |" in result.output
    assert result.output == render_schema(load_schema("Hopper-v5"))
    assert 'x_velocity"] / 1000' not in result.output


def test_list_shows_every_shipped_env() -> None:
    result = runner.invoke(app, ["envs", "list"], terminal_width=250)
    assert result.exit_code == 0, result.output
    for env_id in ("CartPole-v1", "LunarLander-v3", "Humanoid-v5"):
        assert env_id in result.output
    assert "PPO" in result.output and "SAC" in result.output and "1M" in result.output


def test_unknown_env_exits_2_with_suggestion() -> None:
    result = runner.invoke(app, ["envs", "show", "Hopper-v9"])
    assert result.exit_code == 2
    assert "unknown environment 'Hopper-v9'" in result.output
    assert "did you mean Hopper-v5" in result.output
