"""`autoreward run` fails fast, in one clear line, before it creates anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.loop.commands import build_config


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", *args])
    return result.exit_code, result.output


def test_missing_key_names_the_variable_and_creates_no_run_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out = run_cli(
        ["--env", "CartPole-v1", "--task", "balance", "--out", str(tmp_path / "runs")], monkeypatch
    )
    assert code == 2
    assert "OPENAI_API_KEY is not set" in out
    assert not (tmp_path / "runs").exists()


def test_unreachable_endpoint_names_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    url = "http://127.0.0.1:9/v1"
    code, out = run_cli(["--env", "CartPole-v1", "--task", "balance", "--model", "openai/m", "--api-base", url,
                         "--out", str(tmp_path / "runs")], monkeypatch)  # fmt: skip
    assert code == 2 and f"cannot reach {url}" in out
    assert not (tmp_path / "runs").exists()


def test_unknown_env_suggests_close_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_cli(
        ["--env", "CartPol-v1", "--task", "x", "--model", "manual", "--out", str(tmp_path)],
        monkeypatch,
    )
    assert code == 2 and "unknown environment 'CartPol-v1'" in out and "CartPole-v1" in out


def test_config_file_with_fitness_and_command_line_override(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(
        "env_id: CartPole-v1\ntask: stay left\niterations: 4\nfitness:\n  kind: score\n"
        "  expression: (next_state['cart_position'] < 0) / 500.0\n  description: steps in the left half\n"
    )
    cfg, run = build_config({"iterations": 2, "env_id": None}, {"iterations"}, None, cfg_file)
    assert run is None and cfg.iterations == 2 and cfg.task == "stay left"
    assert cfg.fitness is not None and "cart_position" in cfg.fitness.expression


def test_bad_fitness_in_config_is_rejected_before_any_work(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(
        "env_id: CartPole-v1\ntask: x\nmodel: manual\nfitness:\n  kind: score\n"
        "  expression: open('/etc/passwd')\n  description: evil\n"
    )
    result = CliRunner().invoke(
        app, ["run", "--config", str(cfg_file), "--out", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2 and "name 'open' is not allowed" in result.output
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_to_change_the_environment(tmp_path: Path) -> None:
    from autoreward.errors import ConfigError
    from autoreward.store.rundir import RunDir

    run = RunDir.create(tmp_path, "CartPole-v1", "x", {"env_id": "CartPole-v1", "task": "x"})
    with pytest.raises(ConfigError, match="cannot change --env when resuming"):
        build_config({"env_id": "Hopper-v5"}, {"env"}, run.path)
    cfg, again = build_config({"iterations": 5}, {"iterations"}, run.path)
    assert again is not None and cfg.iterations == 5


# --------------------------------------------------------------------------- hyperparameters


def test_hyperparams_from_the_yaml_and_the_command_line_merge_key_by_key(tmp_path: Path) -> None:
    import yaml

    from autoreward.envs.registry import load_schema
    from autoreward.loop.candidates import TrainPlan
    from autoreward.store.rundir import RunDir

    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("env_id: CartPole-v1\ntask: x\nhyperparams:\n  n_steps: 64\n  gamma: 0.95\n")
    cfg, _ = build_config({"hyperparams": {"gamma": 0.9, "policy": "MlpPolicy"}}, {"hyperparams", "policy"},
                          None, cfg_file)  # fmt: skip
    assert cfg.hyperparams == {"n_steps": 64, "gamma": 0.9, "policy": "MlpPolicy"}
    plan = TrainPlan.from_config(cfg, load_schema("CartPole-v1"))
    # schema < run YAML < command line; what the schema set and nobody overrode stays
    assert (plan.hyperparams["n_steps"], plan.hyperparams["gamma"], plan.hyperparams["n_epochs"]) == (64, 0.9, 20)
    run = RunDir.create(tmp_path / "runs", cfg.env_id, cfg.task, cfg.dump())
    saved = yaml.safe_load(run.config_path.read_text())
    assert saved["hyperparams"] == {"n_steps": 64, "gamma": 0.9, "policy": "MlpPolicy"}


def test_an_rl_zoo_file_is_read_into_the_recorded_config(tmp_path: Path) -> None:
    from autoreward.envs.registry import load_schema
    from autoreward.loop.candidates import TrainPlan

    zoo = Path(__file__).parent / "fixtures" / "zoo" / "ppo.yml"
    options = {"env_id": "CartPole-v1", "task": "x", "hyperparams": {"n_epochs": 2}, "hyperparams_file": zoo}
    cfg, _ = build_config(options, {"env", "task", "hyperparams", "hyperparams_file"}, None)
    assert (cfg.steps, cfg.n_envs, cfg.hyperparams_file) == (2000, 2, zoo)
    assert cfg.hyperparams["n_epochs"] == 2 and cfg.hyperparams["gae_lambda"] == 0.8
    plan = TrainPlan.from_config(cfg, load_schema("CartPole-v1"))
    assert plan.hyperparams["n_steps"] == 64  # the file's, not the schema's 32
    assert plan.hyperparams["learning_rate"] == "lin_0.001"  # not the schema's constant 0.001


def test_bad_hyperparams_stop_the_run_before_it_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run_cli(["--env", "CartPole-v1", "--task", "x", "--model", "manual", "--hyperparams", "n_step=64",
                         "--out", str(tmp_path / "runs")], monkeypatch)  # fmt: skip
    text = " ".join(out.split())
    assert code == 2 and "unknown PPO hyperparameter 'n_step' (did you mean 'n_steps'?)" in text
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("env_id: CartPole-v1\ntask: x\nmodel: manual\nhyperparams: {seed: 3}\n")
    result = CliRunner().invoke(app, ["run", "--config", str(cfg_file), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "'seed' is set by autoreward" in result.output
    assert not (tmp_path / "runs").exists()
