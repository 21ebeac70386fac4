"""Saving the filled part of a replay buffer and continuing an off-policy run from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer

from autoreward.train.job import TrainJob
from autoreward.train.sb3.replay import load_filled_replay, save_filled_replay
from autoreward.train.sb3.trainer import train


def _buffer() -> ReplayBuffer:
    return ReplayBuffer(1000, spaces.Box(-1, 1, (3,)), spaces.Box(-1, 1, (2,)), device="cpu")


def test_only_the_filled_part_is_saved_and_restored(tmp_path: Path) -> None:
    buf = _buffer()
    for k in range(10):
        obs = np.full((1, 3), k, dtype=np.float32)
        buf.add(
            obs,
            obs + 1,
            np.full((1, 2), k / 10, dtype=np.float32),
            np.array([k]),
            np.array([False]),
            [{}],
        )
    assert save_filled_replay(buf, tmp_path / "r.npz")
    assert (tmp_path / "r.npz").stat().st_size < 5000  # 10 transitions; all 1000 would be ~44 kB
    fresh = _buffer()
    assert load_filled_replay(fresh, tmp_path / "r.npz") == 10
    assert fresh.pos == 10 and not fresh.full
    assert np.array_equal(fresh.observations[:10], buf.observations[:10])
    assert np.array_equal(fresh.rewards[:10], buf.rewards[:10])
    assert not save_filled_replay(buf, tmp_path / "big.npz", max_mb=1e-6)
    assert not (tmp_path / "big.npz").exists()


def test_sac_run_continues_with_its_replay_buffer(tmp_path: Path) -> None:
    job = TrainJob(
        env_id="Pendulum-v1", out_dir=str(tmp_path), algo="SAC", total_steps=300, n_checkpoints=1,
        eval_episodes=1, checkpoint_eval_episodes=1, trajectory_episodes=0,
        hyperparams={"learning_starts": 100, "buffer_size": 5000, "batch_size": 32},
    )  # fmt: skip
    first = train(job)
    assert first.status == "ok", first.reason
    assert (tmp_path / "checkpoint" / "replay_buffer.npz").exists()
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["replay_buffer"] is True
    assert first.checkpoint and (tmp_path / "policy" / "final.npz").exists()
    resume = str(tmp_path / "checkpoint")
    second = train(job.model_copy(update={"total_steps": 400, "resume_from": resume}))
    assert second.status == "ok", second.reason
    assert second.steps == 400 and second.steps_this_run == 100
