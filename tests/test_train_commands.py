"""`autoreward train`: one reward trained in a worker, optionally beside the env's own reward."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from autoreward.cli import app

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
