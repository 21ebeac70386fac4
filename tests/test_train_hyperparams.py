"""YAML-friendly hyperparameters to SB3 kwargs."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from autoreward.errors import ConfigError
from autoreward.train.hyperparams import algo_class, resolve_hyperparams

BOX = spaces.Box(-1, 1, (2,), dtype=np.float32)


def test_schedules_policy_kwargs_and_normalize() -> None:
    import torch.nn as nn

    policy, kwargs, norm = resolve_hyperparams(
        "PPO",
        {
            "learning_rate": "lin_0.001",
            "clip_range": 0.2,
            "policy_kwargs": {"net_arch": [32, 32], "activation_fn": "tanh"},
            "normalize": {"norm_reward": False},
            "n_steps": 64,
        },
        BOX,
    )
    assert policy == "MlpPolicy"
    assert kwargs["learning_rate"](1.0) == pytest.approx(0.001) and kwargs["learning_rate"](
        0.5
    ) == pytest.approx(0.0005)
    assert kwargs["policy_kwargs"] == {"net_arch": [32, 32], "activation_fn": nn.Tanh}
    assert norm == {"norm_reward": False} and "normalize" not in kwargs
    assert resolve_hyperparams("PPO", {"normalize": True}, BOX)[2] == {}
    assert resolve_hyperparams("PPO", {}, BOX)[2] is None


def test_action_noise_for_off_policy_only() -> None:
    from stable_baselines3.common.noise import NormalActionNoise

    _, kwargs, _ = resolve_hyperparams(
        "TD3", {"action_noise": "normal_0.1", "train_freq": [1, "episode"]}, BOX
    )
    assert isinstance(kwargs["action_noise"], NormalActionNoise)
    assert kwargs["train_freq"] == (1, "episode")
    with pytest.raises(
        ConfigError, match="action_noise only applies to SAC/TD3 on continuous actions, not PPO"
    ):
        resolve_hyperparams("PPO", {"action_noise": "normal_0.1"}, BOX)


def test_bad_values_say_what_to_write() -> None:
    with pytest.raises(
        ConfigError, match="'learning_rate' = 'fast' is neither a number nor a schedule"
    ):
        resolve_hyperparams("PPO", {"learning_rate": "fast"}, BOX)
    with pytest.raises(ConfigError, match="unknown activation_fn 'swish'"):
        resolve_hyperparams("PPO", {"policy_kwargs": {"activation_fn": "swish"}}, BOX)
    with pytest.raises(ConfigError, match="unknown algorithm 'DDPG'"):
        algo_class("DDPG")
    assert algo_class("sac").__name__ == "SAC"
