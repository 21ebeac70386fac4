"""`autoreward train`: one reward trained in a worker, optionally beside the env's own reward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from rich.console import Console
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.train.commands import evaluation_table
from autoreward.train.job import TrainJob, TrainOutcome, TrainResult

DENSE = Path(__file__).parent / "fixtures" / "rewards" / "cartpole_dense.py"
runner = CliRunner()


def test_train_with_env_baseline_side_by_side(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            str(DENSE),
            "--env",
            "CartPole-v1",
            "--steps",
            "1024",
            "--baseline",
            "env",
            "--no-video",
            "--eval-episodes",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "cartpole_dense.py" in result.output and "env reward" in result.output
    assert "task fitness (score)" in result.output
    for sub in ("reward", "baseline"):
        saved = json.loads((tmp_path / sub / "train.json").read_text())
        assert saved["status"] == "ok" and saved["steps"] >= 1024
    assert json.loads((tmp_path / "baseline" / "stats.json").read_text())["components"] == [
        "env_reward"
    ]


def test_bad_inputs_are_one_clean_line(tmp_path: Path) -> None:
    def text(result: object) -> str:
        return " ".join(result.output.split())  # type: ignore[attr-defined]

    missing = runner.invoke(app, ["train", str(tmp_path / "nope.py"), "--env", "CartPole-v1"])
    assert (
        missing.exit_code == 2
        and f"error: reward file {tmp_path / 'nope.py'} does not exist" in text(missing)
    )
    bad_baseline = runner.invoke(
        app, ["train", str(DENSE), "--env", "CartPole-v1", "--baseline", "zero"]
    )
    assert bad_baseline.exit_code == 2 and "--baseline 'zero' is not known" in text(bad_baseline)
    bad_algo = runner.invoke(app, ["train", str(DENSE), "--env", "CartPole-v1", "--algo", "ddpg"])
    assert bad_algo.exit_code == 2 and "error: --algo ddpg is not supported" in text(bad_algo)


LOADS_BADLY = """import numpy as np

SCALE = 1 / 0


def compute_reward(state, action, next_state):
    angle = next_state["pole_angle"]
    return SCALE * angle, {"scaled": SCALE * angle}
"""


def test_train_with_a_custom_fitness_keeps_the_reward_and_reports(tmp_path: Path) -> None:
    """`--fitness` replaces the schema's fitness (the evaluation says so), the folder keeps the
    reward it trained and what it was trained with, and `autoreward report` renders it."""
    out = tmp_path / "train"
    result = runner.invoke(app, [
        "train", str(DENSE), "--env", "CartPole-v1", "--steps", "512", "--no-video",
        "--eval-episodes", "2", "--out", str(out),
        "--fitness", "(next_state['cart_position'] < 0.0) * 1.0", "--fitness-kind", "success",
        "--fitness-aggregate", "max", "--fitness-threshold", "1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "task fitness (success)" in result.output and "off (--no-video)" in result.output
    assert f"report: autoreward report {out}" in result.output
    assert (out / "reward" / "reward.py").read_text() == DENSE.read_text()
    spec = yaml.safe_load((out / "train.yaml").read_text())
    assert spec["fitness"]["expression"] == "(next_state['cart_position'] < 0.0) * 1.0"
    assert spec["fitness_source"] == "custom" and spec["device"] == "cpu" and spec["algo"] == "PPO"
    assert spec["reward_file"] == str(DENSE)
    train = json.loads((out / "reward" / "train.json").read_text())
    assert train["fitness_kind"] == "success" and train["device"] == "cpu"

    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    html = (out / "report.html").read_text()
    assert "autoreward train" in html and "a custom fitness" in html
    assert "cartpole_dense.py" in html and "compute_reward" in html


def test_train_takes_env_and_fitness_from_a_run_yaml(tmp_path: Path) -> None:
    from autoreward.train.commands import TrainOptions

    example = Path(__file__).resolve().parents[1] / "examples" / "cartpole-left-half" / "run.yaml"
    opts = TrainOptions.build(
        given={"steps"}, config=example, fitness={}, env_id=None, steps=1000, algo=None,
        n_envs=None, seed=0, eval_episodes=10, video=True, device="cpu",
    )  # fmt: skip
    assert opts.env_id == "CartPole-v1" and opts.steps == 1000  # the command line wins
    assert opts.fitness is not None and "cart_position" in opts.fitness.expression
    assert opts.eval_episodes == 5  # set in the YAML
    missing = runner.invoke(app, ["train", str(DENSE)])
    assert missing.exit_code == 2 and "error: --env is needed" in missing.output


def test_the_parent_only_parses_the_reward(tmp_path: Path) -> None:
    """A reward whose module body raises passes the static check; it is never run in the
    parent, so the failure comes from the isolated worker, as a failed result."""
    reward = tmp_path / "bad_at_import.py"
    reward.write_text(LOADS_BADLY)
    result = runner.invoke(app, ["train", str(reward), "--env", "CartPole-v1", "--steps", "256",
                                 "--no-video", "--eval-episodes", "1", "--out", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "bad_at_import.py failed:" in result.output and "ZeroDivisionError" in result.output


def test_the_summary_shows_worker_text_as_text_and_refuses_implausible_numbers(
    tmp_path: Path,
) -> None:
    """A forged `device` printed raw escapes in train's summary; `steps_per_s=1e300` and
    negative durations were accepted (issue 17)."""
    job = TrainJob(env_id="Pendulum-v1", out_dir=str(tmp_path), label="[bold]lab\x1b[2J")
    forged = "cuda\x1b]52;c;aGVsbG8=\x07[red]gpu[/]"
    (tmp_path / "train.json").write_text(json.dumps({"device": forged}))
    result = TrainResult.failure(job, "x")
    console = Console(record=True, force_terminal=True, width=200)
    console.print(evaluation_table([job], [result]))
    text = console.export_text()
    assert "\x1b" not in text
    assert "cuda[red]gpu[/]" in text and "[bold]lab" in text
    assert "evaluation (deterministic policy)" in text
    sampled = Console(record=True, width=200)
    sampled.print(evaluation_table([job], [result], deterministic=False))
    assert "evaluation (policy sampling its actions)" in sampled.export_text()
    for bad in ({"steps_per_s": 1e300}, {"learn_s": -1.0}, {"steps": -3},
                {"device": "x" * 500}, {"startup_s": float("inf")}):  # fmt: skip
        with pytest.raises(ValidationError):
            TrainOutcome.model_validate({"status": "ok", **bad})
    assert TrainOutcome.model_validate({"status": "ok", "device": forged}).device == (
        "cuda[red]gpu[/]"
    )
