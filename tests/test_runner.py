"""`autoreward run` fails fast, in one clear line, before it creates anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.loop.commands import build_config

ROOT = Path(__file__).resolve().parents[1]
TRANSCRIPT = Path("examples/cartpole-left-half/transcript.jsonl")


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
    cfg_file.write_text(
        "env_id: CartPole-v1\ntask: x\nhyperparams:\n  n_steps: 64\n  gamma: 0.95\n"
    )
    cfg, _ = build_config({"hyperparams": {"gamma": 0.9, "policy": "MlpPolicy"}}, {"hyperparams", "policy"},
                          None, cfg_file)  # fmt: skip
    assert cfg.hyperparams == {"n_steps": 64, "gamma": 0.9, "policy": "MlpPolicy"}
    plan = TrainPlan.from_config(cfg, load_schema("CartPole-v1"))
    # schema < run YAML < command line; what the schema set and nobody overrode stays
    assert (
        plan.hyperparams["n_steps"],
        plan.hyperparams["gamma"],
        plan.hyperparams["n_epochs"],
    ) == (64, 0.9, 20)
    run = RunDir.create(tmp_path / "runs", cfg.env_id, cfg.task, cfg.dump())
    saved = yaml.safe_load(run.config_path.read_text())
    assert saved["hyperparams"] == {"n_steps": 64, "gamma": 0.9, "policy": "MlpPolicy"}


def test_an_rl_zoo_file_is_read_into_the_recorded_config(tmp_path: Path) -> None:
    from autoreward.envs.registry import load_schema
    from autoreward.loop.candidates import TrainPlan

    zoo = Path(__file__).parent / "fixtures" / "zoo" / "ppo.yml"
    options = {
        "env_id": "CartPole-v1",
        "task": "x",
        "hyperparams": {"n_epochs": 2},
        "hyperparams_file": zoo,
    }
    cfg, _ = build_config(options, {"env", "task", "hyperparams", "hyperparams_file"}, None)
    assert (cfg.steps, cfg.n_envs, cfg.hyperparams_file) == (2000, 2, zoo)
    assert cfg.hyperparams["n_epochs"] == 2 and cfg.hyperparams["gae_lambda"] == 0.8
    plan = TrainPlan.from_config(cfg, load_schema("CartPole-v1"))
    assert plan.hyperparams["n_steps"] == 64  # the file's, not the schema's 32
    assert plan.hyperparams["learning_rate"] == "lin_0.001"  # not the schema's constant 0.001


def test_bad_hyperparams_stop_the_run_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_cli(["--env", "CartPole-v1", "--task", "x", "--model", "manual", "--hyperparams", "n_step=64",
                         "--out", str(tmp_path / "runs")], monkeypatch)  # fmt: skip
    text = " ".join(out.split())
    assert code == 2 and "unknown PPO hyperparameter 'n_step' (did you mean 'n_steps'?)" in text
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("env_id: CartPole-v1\ntask: x\nmodel: manual\nhyperparams: {seed: 3}\n")
    result = CliRunner().invoke(
        app, ["run", "--config", str(cfg_file), "--out", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2 and "'seed' is set by autoreward" in result.output
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- --fitness, --algo, --device


def test_fitness_on_the_command_line_replaces_the_schemas(tmp_path: Path) -> None:
    options = {"env_id": "CartPole-v1", "task": "stay left"}
    cfg, _ = build_config(
        options, {"env", "task"}, None,
        fitness={"expression": "(next_state['cart_position'] < 0) / 500.0",
                 "description": "steps in the left half", "aggregate": "sum"},
    )  # fmt: skip
    assert cfg.fitness is not None and cfg.fitness.kind == "score"
    assert "cart_position" in cfg.fitness.expression
    assert cfg.fitness.description == "steps in the left half"


def test_fitness_options_change_the_config_files_fitness(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(
        "env_id: CartPole-v1\ntask: stay left\nfitness:\n  kind: score\n"
        "  expression: (next_state['cart_position'] < 0) / 500.0\n  description: left half\n"
    )
    cfg, _ = build_config({}, set(), None, cfg_file, fitness={"kind": "success", "threshold": 0.5})
    assert cfg.fitness is not None and cfg.fitness.kind == "success"
    assert cfg.fitness.threshold == 0.5 and cfg.fitness.description == "left half"


@pytest.mark.parametrize(
    ("fitness", "message"),
    [
        ({"expression": "next_state['x']"}, "--fitness needs --fitness-description"),
        ({"expression": "1.0", "description": "d", "kind": "success"},
         "--fitness-threshold: a 'success' fitness needs a 'threshold'"),
        ({"expression": "1.0", "description": "d", "aggregate": "median"},
         "--fitness-aggregate: Input should be 'sum', 'mean', 'final', 'max' or 'min'"),
    ],
)  # fmt: skip
def test_bad_fitness_options_name_the_option(fitness: dict, message: str) -> None:
    from autoreward.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config({"env_id": "CartPole-v1", "task": "x"}, {"env", "task"}, None, fitness=fitness)


def test_a_fitness_reading_a_missing_field_fails_before_any_work(tmp_path: Path) -> None:
    code, out = run_cli(
        ["--env", "CartPole-v1", "--task", "x", "--model", "manual", "--out", str(tmp_path / "runs"),
         "--fitness", "next_state['cart_posn']", "--fitness-description", "d"], None,
    )  # fmt: skip
    assert code == 2
    assert "fitness reads next_state[\"cart_posn\"] but CartPole-v1 has no field 'cart_posn'" in out
    assert "did you mean 'cart_position'?" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("env", "algo", "message"),
    [
        ("CartPole-v1", "SAC", "--algo SAC: SAC needs continuous (Box) actions, but CartPole-v1 has 2 discrete actions"),
        ("Pendulum-v1", "dqn", "--algo DQN: DQN needs discrete actions, but Pendulum-v1 has continuous actions of shape (1,)"),
    ],
)  # fmt: skip
def test_algorithm_and_action_space_mismatch_fails_before_any_work(
    tmp_path: Path, env: str, algo: str, message: str
) -> None:
    code, out = run_cli(["--env", env, "--task", "x", "--model", "manual", "--algo", algo,
                         "--out", str(tmp_path / "runs")], None)  # fmt: skip
    assert code == 2 and f"error: {message}" in out
    assert not (tmp_path / "runs").exists()


def test_cuda_on_a_cpu_only_torch_is_refused_and_auto_records_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from autoreward.loop.commands import preflight

    monkeypatch.setattr(torch.version, "cuda", None)
    code, out = run_cli(["--env", "CartPole-v1", "--task", "x", "--model", "manual", "--device", "cuda",
                         "--out", str(tmp_path / "runs")], None)  # fmt: skip
    assert code == 2
    assert (
        f"error: --device cuda: the installed torch {torch.__version__} is a CPU-only build" in out
    )
    assert "install a CUDA build of torch" in out and "--device cpu" in out
    assert not (tmp_path / "runs").exists()

    cfg, _ = build_config({"env_id": "CartPole-v1", "task": "x", "model": "manual", "device": "auto"},
                          {"env", "task", "model", "device"}, None)  # fmt: skip
    assert preflight(cfg).device == "cpu"


def test_a_cuda_build_that_sees_no_gpu_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from autoreward.errors import ConfigError
    from autoreward.train.device import resolve_device

    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"built for CUDA 12\.8 but sees no GPU"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


# --------------------------------------------------------------------------- paths saved in config.yaml


def test_replay_and_record_paths_are_saved_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    cfg, _ = build_config(
        {"env_id": "CartPole-v1", "task": "x", "model": f"replay:{TRANSCRIPT}", "record": Path("t.jsonl")},
        {"env", "task", "model", "record"}, None,
    )  # fmt: skip
    assert cfg.model == f"replay:{ROOT / TRANSCRIPT}"
    assert cfg.record == ROOT / "t.jsonl"


def test_a_run_recorded_with_a_relative_replay_path_resumes_from_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older runs saved `replay:examples/...` relative to where they were started: the folder
    that holds `runs/` is searched too, and a path found nowhere is one clear error."""
    import shutil

    from autoreward.errors import LLMError
    from autoreward.store.rundir import RunDir

    shutil.copy(ROOT / TRANSCRIPT, tmp_path / "session.jsonl")
    run = RunDir.create(tmp_path / "runs", "CartPole-v1", "x",
                        {"env_id": "CartPole-v1", "task": "x", "model": "replay:session.jsonl"})  # fmt: skip
    monkeypatch.chdir(ROOT)
    cfg, _ = build_config({}, set(), run.path)
    assert cfg.model == f"replay:{tmp_path / 'session.jsonl'}"
    (tmp_path / "session.jsonl").unlink()
    with pytest.raises(
        LLMError, match=r"replay transcript session.jsonl does not exist \(looked in"
    ):
        build_config({}, set(), run.path)
    # another model for the next iterations is allowed on resume
    cfg, _ = build_config({"model": "manual"}, {"model"}, run.path)
    assert cfg.model == "manual"


def test_a_fitness_description_without_its_threshold_is_warned_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import autoreward.loop as loop_pkg

    def no_work(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the loop started")

    monkeypatch.setattr(loop_pkg, "run_loop", no_work)
    code, out = run_cli(
        ["--env", "CartPole-v1", "--task", "x", "--model", "manual", "--out", str(tmp_path / "runs"),
         "--fitness", "(np.abs(next_state['pole_angle']) < 0.05) / 500.0",
         "--fitness-description", "pole nearly upright"], monkeypatch,
    )  # fmt: skip
    assert "warning: the fitness description does not state 0.05" in " ".join(out.split())
    assert out.index("does not state 0.05") < out.index("run directory")
