"""Training one candidate through its containers (train → evaluate → reward terms): success,
failures, continuation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoreward.exec.base import run_job_isolated
from autoreward.sandbox.loader import load_reward_fn
from autoreward.train.job import TrainJob
from autoreward.train.trajectories import episode_fitness, rescore_episodes

train = run_job_isolated

REWARDS = Path(__file__).parent / "fixtures" / "rewards"


def _code(name: str) -> str:
    return (REWARDS / name).read_text()


@pytest.mark.expensive
def test_ppo_cartpole_dense_reward_reaches_475(tmp_path: Path) -> None:
    job = TrainJob(
        env_id="CartPole-v1",
        out_dir=str(tmp_path),
        reward_code=_code("cartpole_dense.py"),
        total_steps=40_000,  # the schema's rl-zoo PPO settings solve CartPole well within 60k
        seed=0,
        n_checkpoints=4,
        eval_episodes=10,
        hyperparams={"learning_rate": "lin_0.001", "clip_range": "lin_0.2"},
    )
    result = train(job).model_dump()
    assert result["status"] == "ok", result["reason"]
    assert result["env_return"] >= 475
    assert result["fitness"] >= 0.95
    assert result["steps"] >= 40_000 and result["steps_per_s"] > 0
    assert {"train_container_s", "eval_container_s", "terms_container_s"} <= set(result["timings"])

    for name in (
        "train.json",
        "eval.json",
        "stats.json",
        "trajectories.json",
        "episodes.npz",
        "policy.npz",
        "train/checkpoint/model.zip",
    ):
        assert (tmp_path / name).exists(), name
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["components"] == ["alive", "upright", "centred", "calm"]
    assert [p["step"] for p in stats["checkpoints"]] == [10_000, 20_000, 30_000, 40_000]
    assert all(
        p["fitness"] is not None and p["per_step"]["upright"]["max"] <= 1.0
        for p in stats["checkpoints"]
    )
    assert len(result["curve"]) == 4
    # the stored evaluation episodes re-score to the generated returns of the evaluation
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    rescored = rescore_episodes(
        tmp_path / "episodes.npz", load_reward_fn(_code("cartpole_dense.py"))
    )
    assert rescored == pytest.approx(
        [e["generated_return"] for e in evaluation["episodes"]], rel=1e-4
    )
    assert episode_fitness(tmp_path / "episodes.npz") == pytest.approx(
        [e["fitness_value"] for e in evaluation["episodes"]]
    )
    progress = json.loads((tmp_path / "train" / "progress.json").read_text())
    assert progress["status"] == "ok" and progress["steps"] == result["steps"]


def test_nan_mid_training_fails_with_reason_and_keeps_statistics(tmp_path: Path) -> None:
    job = TrainJob(
        env_id="CartPole-v1",
        out_dir=str(tmp_path),
        reward_code=_code("cartpole_nan_midway.py"),
        total_steps=4000,
        n_envs=4,
        n_checkpoints=8,
        checkpoint_eval_episodes=1,
        hyperparams={"batch_size": 128},
    )
    result = train(job)
    assert result.status == "failed"
    assert result.reason is not None
    assert "non-finite reward at training step 800: component 'ratio' is NaN/inf" in result.reason
    assert not (tmp_path / "eval.json").exists()  # nothing to evaluate
    assert 0 < result.steps <= 800
    saved = json.loads((tmp_path / "train.json").read_text())
    assert saved["status"] == "failed" and saved["reason"] == result.reason
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["components"] == ["alive", "ratio"] and len(stats["checkpoints"]) == 1


def test_env_reward_baseline_then_resume_to_full_budget(tmp_path: Path) -> None:
    job = TrainJob(
        env_id="CartPole-v1",
        out_dir=str(tmp_path),
        total_steps=1024,
        n_checkpoints=2,
        eval_episodes=2,
        checkpoint_eval_episodes=1,
        trajectory_episodes=1,
    )
    first = train(job)
    assert first.status == "ok", first.reason
    assert first.steps == 1024 and first.checkpoint == str(tmp_path / "train" / "checkpoint")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["components"] == ["env_reward"]
    for point in first.curve:
        assert point.generated_return == point.env_return

    second = train(job.model_copy(update={"total_steps": 2048, "resume_from": first.checkpoint}))
    assert second.status == "ok", second.reason
    assert second.steps == 2048 and second.steps_this_run == 1024
    assert [p.step for p in second.curve] == [512, 1024, 1536, 2048]
    # the fitness of the first run's checkpoints is kept, the new ones are measured
    assert [p.fitness for p in second.curve[:2]] == [p.fitness for p in first.curve]
    assert all(p.fitness is not None for p in second.curve)
    saved = json.loads((tmp_path / "train.json").read_text())
    assert saved["resumed_from_steps"] == 1024


def test_bad_input_fails_cleanly(tmp_path: Path) -> None:
    bad_params = train(
        TrainJob(
            env_id="CartPole-v1",
            out_dir=str(tmp_path / "a"),
            total_steps=64,
            hyperparams={"n_stepz": 8},
        )
    )
    assert bad_params.status == "failed"
    assert "bad PPO hyperparameters" in (bad_params.reason or "")

    forbidden = train(
        TrainJob(
            env_id="CartPole-v1",
            out_dir=str(tmp_path / "b"),
            total_steps=64,
            reward_code="import os\n",
        )
    )
    assert forbidden.status == "failed" and "rejected by the static check" in (
        forbidden.reason or ""
    )

    no_ckpt = train(
        TrainJob(
            env_id="CartPole-v1",
            out_dir=str(tmp_path / "c"),
            total_steps=64,
            resume_from=str(tmp_path),
        )
    )
    assert no_ckpt.status == "failed" and "no checkpoint at" in (no_ckpt.reason or "")
