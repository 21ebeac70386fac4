"""`autoreward train` end to end on a Dict observation and on an image observation; the policy,
hyperparameters and budget it trained with are said and recorded; bad ones fail before any work."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.train.tblog import read_scalars

HERE = Path(__file__).parent
REWARDS = HERE / "fixtures" / "rewards"
ZOO = HERE / "fixtures" / "zoo"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _worker_imports_test_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The training worker imports `obs_envs:...` entry points through PYTHONPATH."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    )


def _train(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["train", *args])
    return result.exit_code, " ".join(result.output.split())


def test_a_dict_observation_env_trains_with_multi_input_policy(tmp_path: Path) -> None:
    code, out = _train(str(REWARDS / "dict_goal.py"), "--env", "obs_envs:GoalDictEnv", "--steps", "512",
                       "--eval-episodes", "2", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, out
    # PPO's n_steps 2048 on 4 envs would train 8,192 steps; it is fitted to the budget, and said
    assert "n_steps 2048 shrunk to n_steps 128 so one rollout fits the budget of 512 steps" in out
    saved = json.loads((tmp_path / "reward" / "train.json").read_text())
    assert (
        saved["status"] == "ok" and saved["policy"] == "MultiInputPolicy" and saved["steps"] == 512
    )
    assert saved["hyperparams"]["n_steps"] == 128 and saved["budget"]["rollout"] == 512
    assert "n_steps 2048 shrunk to n_steps 128" in saved["budget"]["note"]
    assert (tmp_path / "reward" / "video.mp4").exists()  # a Dict observation renders too
    assert "checkpoint/fitness" in read_scalars(tmp_path / "reward" / "tb")


def test_an_image_observation_env_trains_with_cnn_policy(tmp_path: Path) -> None:
    code, out = _train(str(REWARDS / "dot_image.py"), "--env", "obs_envs:DotImageEnv", "--steps", "256",
                       "--n-envs", "2", "--hyperparams", "batch_size=64", "--no-video",
                       "--eval-episodes", "1", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, out
    assert "(PPO, policy from the observation space, cpu)" in out
    saved = json.loads((tmp_path / "reward" / "train.json").read_text())
    assert saved["status"] == "ok" and saved["policy"] == "CnnPolicy"
    # the training container's own curves, and the fitness the evaluation container measured
    scalars = read_scalars(tmp_path / "reward" / "train" / "tb")
    assert {"rollout/ep_rew_mean", "reward_episode/centre"} <= set(scalars)
    assert "checkpoint/fitness" in read_scalars(tmp_path / "reward" / "tb")


def test_an_rl_zoo_file_replaces_the_schema_hyperparameters(tmp_path: Path) -> None:
    code, out = _train(str(REWARDS / "cartpole_dense.py"), "--env", "CartPole-v1", "--hyperparams-file",
                       str(ZOO / "ppo.yml"), "--hyperparams", "n_epochs=2", "--no-video",
                       "--eval-episodes", "1", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, out
    assert "for 2,000 steps (PPO, MlpPolicy, cpu)" in out  # n_timesteps of the file's entry
    assert "4,096 steps for a budget of 2,000" not in out  # 2 envs × 64 = 128 per rollout
    saved = json.loads((tmp_path / "reward" / "train.json").read_text())
    hp = saved["hyperparams"]
    assert hp["n_epochs"] == 2 and hp["gamma"] == 0.98 and hp["learning_rate"] == "lin_0.001"
    assert hp["policy_kwargs"] == {"net_arch": [64, 64], "activation_fn": "nn.Tanh"}
    assert saved["n_envs"] == 2 and saved["steps"] == 2048  # 16 rollouts of 128 steps
    assert "2,048 steps for a budget of 2,000 (+48)" in out


def test_bad_hyperparameters_fail_before_any_worker(tmp_path: Path) -> None:
    code, out = _train(str(REWARDS / "dict_goal.py"), "--env", "obs_envs:GoalDictEnv", "--policy", "MlpPolicy",
                       "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and "policy MlpPolicy does not fit the observation space Dict(" in out
    assert "hint: use policy MultiInputPolicy" in out
    code, out = _train(str(REWARDS / "cartpole_dense.py"), "--env", "CartPole-v1", "--hyperparams",
                       "lerning_rate=0.1", "--out", str(tmp_path))  # fmt: skip
    assert (
        code == 2
        and "unknown PPO hyperparameter 'lerning_rate' (did you mean 'learning_rate'?)" in out
    )
    assert "PPO accepts learning_rate, n_steps" in out
    code, out = _train(str(REWARDS / "cartpole_dense.py"), "--env", "CartPole-v1", "--hyperparams", "n_steps",
                       "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and "expected KEY=VALUE" in out
    assert not (tmp_path / "reward").exists()


def test_a_tuple_observation_env_trains_on_its_flattened_observation(tmp_path: Path) -> None:
    # stable-baselines3 takes no Tuple observation: the policy sees it flattened (one-hot),
    # the reward still reads the schema state of the env's own observation
    code, out = _train(str(REWARDS / "blackjack_safe.py"), "--env", "Blackjack-v1", "--steps", "512",
                       "--no-video", "--eval-episodes", "3", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, out
    saved = json.loads((tmp_path / "reward" / "train.json").read_text())
    assert saved["status"] == "ok" and saved["policy"] == "MlpPolicy"
