"""TensorBoard logs: checkpoint scalars from plain data, and a training job's own event files."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoreward.train.tblog import checkpoint_scalars, read_scalars, write_scalars

REWARDS = Path(__file__).parent / "fixtures" / "rewards"

POINT = {
    "step": 512,
    "fitness": 0.75,
    "generated_return": 42.0,
    "env_return": 30.0,
    "episode_length": 30.0,
    "episodes": 4,
    "terminated_fraction": 1.0,
    "reward_per_step": {"mean": 1.4, "std": 0.1, "min": 1.0, "max": 2.0, "count": 512},
    "per_step": {"alive": {"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0, "count": 512}},
    "per_episode": {"alive": 30.0, "upright": float("nan")},
}


def test_a_checkpoint_becomes_named_scalars() -> None:
    assert checkpoint_scalars(POINT) == {
        "checkpoint/fitness": 0.75,
        "checkpoint/generated_return": 42.0,
        "checkpoint/env_return": 30.0,
        "checkpoint/episode_length": 30.0,
        "checkpoint/terminated_fraction": 1.0,
        "checkpoint/reward_per_step": 1.4,
        "reward_episode/alive": 30.0,  # the NaN one is left out
        "reward_step/alive": 1.0,
    }
    assert checkpoint_scalars({"step": 1, "fitness": None}) == {}


def test_plain_data_round_trips_through_event_files(tmp_path: Path) -> None:
    # the later steps in the first file: the reader must not return points in file order
    write_scalars(tmp_path / "tb", {768: {"checkpoint/fitness": 0.75, "reward_step/alive": 1.0}})
    write_scalars(
        tmp_path / "tb", {512: {"checkpoint/fitness": 0.5}, 256: {"checkpoint/fitness": 0.25}}
    )  # a second file
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 2
    scalars = read_scalars(tmp_path / "tb")
    assert scalars["checkpoint/fitness"] == [(256, 0.25), (512, 0.5), (768, 0.75)]
    assert scalars["reward_step/alive"] == [(768, 1.0)]


def test_a_training_job_logs_sb3_curves_and_checkpoints(tmp_path: Path) -> None:
    from autoreward.exec.base import run_job_isolated as train
    from autoreward.train.job import TrainJob

    result = train(TrainJob(
        env_id="CartPole-v1", out_dir=str(tmp_path / "cand"), reward_code=(REWARDS / "cartpole_dense.py").read_text(),
        total_steps=1024, n_envs=2, n_checkpoints=2, checkpoint_eval_episodes=1, eval_episodes=1,
        hyperparams={"n_steps": 128, "batch_size": 64},
    ))  # fmt: skip
    assert result.status == "ok", result.reason
    # the training container's log: stable-baselines3's own curves and the reward components
    scalars = read_scalars(tmp_path / "cand" / "train" / "tb")
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "train/value_loss", "time/fps"} <= set(
        scalars
    )
    # the fitness measured by the evaluation container, logged by the parent beside it
    measured = read_scalars(tmp_path / "cand" / "tb")
    assert [s for s, _ in measured["checkpoint/fitness"]] == [512, 1024]
    assert [s for s, _ in measured["eval/fitness"]] == [1024]
    assert {f"reward_episode/{t}" for t in ("alive", "upright", "centred", "calm")} <= set(scalars)
    assert {f"reward_step/{t}" for t in ("alive", "upright", "centred", "calm")} <= set(scalars)
    fitness = dict(measured["checkpoint/fitness"])
    assert [p.fitness for p in result.curve] == pytest.approx([fitness[512], fitness[1024]])


def test_tensorboard_off_writes_no_logs(tmp_path: Path) -> None:
    from autoreward.train.job import TrainJob
    from autoreward.train.sb3.trainer import train

    result = train(TrainJob(env_id="CartPole-v1", out_dir=str(tmp_path), total_steps=256, n_envs=1,
                            n_checkpoints=1, checkpoint_eval_episodes=1, eval_episodes=1,
                            hyperparams={"n_steps": 128, "batch_size": 64}, tensorboard=False))  # fmt: skip
    assert result.status == "ok" and not (tmp_path / "tb").exists()
    assert not (tmp_path / "policy").exists() or (tmp_path / "policy" / "final.npz").exists()


class _FakeWandbRun:
    def __init__(self, calls: list, kwargs: dict) -> None:  # noqa: ANN401
        self.calls, self.kwargs, self.logged = calls, kwargs, []
        calls.append(self)

    def log(self, values: dict, step: int) -> None:
        self.logged.append((step, dict(values)))

    def finish(self) -> None:
        self.kwargs["finished"] = True


def test_wandb_gets_one_run_per_job_in_the_calling_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import sys
    import types

    from autoreward.train.tblog import upload_to_wandb

    calls: list = []
    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: _FakeWandbRun(calls, kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wandb", fake)
    for cand, fitness in (("cand_0", 0.5), ("cand_1", 0.9)):
        job = tmp_path / "run-x" / "iter_0" / cand
        write_scalars(
            job / "tb",
            {100: {"checkpoint/fitness": fitness / 2}, 200: {"checkpoint/fitness": fitness}},
        )
        (job / "train.json").write_text(
            json.dumps({"policy": "MlpPolicy", "hyperparams": {"n_steps": 64}})
        )
    assert upload_to_wandb(tmp_path / "run-x", "my-project") == 2
    assert [c.kwargs["name"] for c in calls] == ["iter_0/cand_0", "iter_0/cand_1"]
    assert calls[1].kwargs["project"] == "my-project" and calls[1].kwargs["group"] == "run-x"
    assert (
        calls[1].kwargs["config"]["hyperparams"] == {"n_steps": 64} and calls[1].kwargs["finished"]
    )
    assert [(step, pytest.approx(v["checkpoint/fitness"])) for step, v in calls[1].logged] == [
        (100, 0.45),
        (200, 0.9),
    ]


def test_wandb_without_the_package_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from autoreward.errors import ConfigError
    from autoreward.train.tblog import require_wandb

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="--wandb needs the wandb package") as err:
        require_wandb()
    assert "pip install wandb" in str(err.value)
