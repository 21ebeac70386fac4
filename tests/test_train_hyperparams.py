"""YAML-friendly hyperparameters to SB3 kwargs."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from autoreward.errors import ConfigError
from autoreward.train.sb3.hyperparams import algo_class, resolve_hyperparams

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


# --------------------------------------------------------------------------- policies

IMAGE = spaces.Box(0, 255, (64, 64, 3), dtype=np.uint8)
DICT = spaces.Dict({"position": BOX, "goal": BOX})


def test_policy_follows_the_observation_space() -> None:
    from autoreward.train.sb3.hyperparams import choose_policy

    assert choose_policy(BOX)[0] == "MlpPolicy"
    assert choose_policy(spaces.Discrete(16))[0] == "MlpPolicy"
    assert choose_policy(DICT)[0] == "MultiInputPolicy"
    assert choose_policy(IMAGE) == ("CnnPolicy", "the observation is an image (64, 64, 3) uint8")
    # SB3's is_image_space: a float array of three dimensions is not an image
    assert choose_policy(spaces.Box(0.0, 1.0, (64, 64, 3)))[0] == "MlpPolicy"
    assert resolve_hyperparams("PPO", {}, BOX, DICT)[0] == "MultiInputPolicy"
    assert resolve_hyperparams("PPO", {}, BOX, IMAGE)[0] == "CnnPolicy"
    assert resolve_hyperparams("PPO", {"policy": "MlpPolicy"}, BOX, IMAGE)[0] == "MlpPolicy"


def test_a_policy_that_cannot_take_the_space_names_the_one_that_can() -> None:
    from autoreward.train.sb3.hyperparams import check_policy

    with pytest.raises(ConfigError, match="MlpPolicy cannot take a Dict observation") as err:
        check_policy("MlpPolicy", DICT)
    assert "use policy MultiInputPolicy" in str(err.value)
    with pytest.raises(ConfigError, match="CnnPolicy needs an image observation"):
        resolve_hyperparams("PPO", {"policy": "CnnPolicy"}, BOX, BOX)
    with pytest.raises(ConfigError, match="MultiInputPolicy needs a Dict observation"):
        check_policy("MultiInputPolicy", IMAGE)
    with pytest.raises(ConfigError, match="unknown policy 'LstmPolicy'"):
        check_policy("LstmPolicy", BOX)


# --------------------------------------------------------------------------- checking names and values


def test_unknown_argument_names_what_the_algorithm_accepts() -> None:
    from autoreward.train.sb3.hyperparams import accepted_arguments, check_hyperparams

    with pytest.raises(
        ConfigError,
        match="unknown PPO hyperparameter 'lerning_rate' \\(did you mean 'learning_rate'\\?\\)",
    ) as err:
        check_hyperparams("PPO", {"lerning_rate": 0.001})
    assert "PPO accepts learning_rate, n_steps, batch_size" in str(err.value)
    assert "buffer_size" in accepted_arguments("SAC") and "buffer_size" not in accepted_arguments(
        "PPO"
    )
    with pytest.raises(ConfigError, match="unknown SAC hyperparameter 'n_epochs'"):
        check_hyperparams("SAC", {"n_epochs": 10})
    with pytest.raises(ConfigError, match="'seed' is set by autoreward") as err:
        check_hyperparams("PPO", {"seed": 3})
    assert "--seed" in str(err.value)
    with pytest.raises(ConfigError, match="'n_envs' is not a PPO hyperparameter") as err:
        check_hyperparams("PPO", {"n_envs": 8})
    assert "--n-envs" in str(err.value)
    with pytest.raises(
        ConfigError,
        match="unknown policy_kwargs entry 'netarch' for PPO \\(did you mean 'net_arch'",
    ):
        check_hyperparams("PPO", {"policy_kwargs": {"netarch": [64]}})
    with pytest.raises(ConfigError, match="unknown activation_fn 'nn.Swish'"):
        check_hyperparams("PPO", {"policy_kwargs": "dict(activation_fn=nn.Swish)"})
    with pytest.raises(ConfigError, match="unknown policy 'Mlp'"):
        check_hyperparams("PPO", {"policy": "Mlp"})
    with pytest.raises(ConfigError, match="unknown PPO hyperparameter 'action_noise'"):
        check_hyperparams("PPO", {"action_noise": "normal_0.1"})
    with pytest.raises(ConfigError, match="action_noise 'gaussian_0.1' not understood"):
        check_hyperparams("TD3", {"action_noise": "gaussian_0.1"})
    with pytest.raises(ConfigError, match="'learning_rate' = 'fast'"):
        check_hyperparams("PPO", {"learning_rate": "fast"})
    check_hyperparams("PPO", {"learning_rate": "lin_3e-4", "policy": "CnnPolicy", "normalize": True,
                              "policy_kwargs": "dict(net_arch=dict(pi=[64], vf=[64]), activation_fn=nn.Tanh)"})  # fmt: skip


def test_rl_zoo_policy_kwargs_strings_become_classes_from_the_allow_list() -> None:
    import torch.nn as nn
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

    _, kwargs, _ = resolve_hyperparams(
        "A2C",
        {"policy_kwargs": "dict(log_std_init=-2, ortho_init=False, activation_fn=th.nn.ReLU, "
                          "net_arch=dict(pi=[256, 256], vf=[256, 256]), "
                          "optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5))"},
        BOX,
    )  # fmt: skip
    assert kwargs["policy_kwargs"] == {
        "log_std_init": -2, "ortho_init": False, "activation_fn": nn.ReLU,
        "net_arch": {"pi": [256, 256], "vf": [256, 256]}, "optimizer_class": RMSpropTFLike,
        "optimizer_kwargs": {"eps": 1e-5},
    }  # fmt: skip
    assert resolve_hyperparams("PPO", {"normalize": "dict(norm_obs=True, norm_reward=False)"}, BOX)[2] == {
        "norm_obs": True, "norm_reward": False,
    }  # fmt: skip


def test_literal_strings_are_parsed_never_evaluated() -> None:
    from autoreward.train.sb3.literal import parse_literal

    assert parse_literal("dict(net_arch=[64, 64], activation_fn=nn.Tanh, log_std_init=-3.29)") == {
        "net_arch": [64, 64], "activation_fn": "nn.Tanh", "log_std_init": -3.29,
    }  # fmt: skip
    assert parse_literal("{'norm_obs': False, 'norm_reward': True}") == {
        "norm_obs": False,
        "norm_reward": True,
    }
    assert parse_literal("(1, 'episode')") == [1, "episode"]
    for hostile in ("__import__('os').system('true')", "dict(x=open('/etc/passwd'))",
                    "(lambda: 1)()", "nn.Tanh()", "dict(**kw)", "[x for x in ()]", "1 + 1"):  # fmt: skip
        with pytest.raises(ConfigError, match="is not plain data"):
            parse_literal(hostile, "policy_kwargs")
    with pytest.raises(ConfigError, match="is not valid Python syntax"):
        parse_literal("dict(net_arch=[64,", "policy_kwargs")


def test_command_line_assignments_read_values_as_yaml() -> None:
    from autoreward.train.sb3.hyperparams import parse_assignments

    assert parse_assignments(
        ["n_steps=256", "learning_rate=lin_3e-4", "policy_kwargs={net_arch: [64, 64]}", "use_sde=true"],
        policy="MlpPolicy",
    ) == {"n_steps": 256, "learning_rate": "lin_3e-4", "policy_kwargs": {"net_arch": [64, 64]},
          "use_sde": True, "policy": "MlpPolicy"}  # fmt: skip
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignments(["n_steps"])
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_assignments(["policy_kwargs={net_arch: [64"])


def test_the_algorithm_must_fit_the_kind_of_action() -> None:
    from autoreward.envs.registry import load_schema
    from autoreward.train.sb3.hyperparams import check_training_options

    with pytest.raises(
        ConfigError, match="SAC needs continuous actions; CartPole-v1 has 2 discrete ones"
    ):
        check_training_options("SAC", {}, load_schema("CartPole-v1"))
    with pytest.raises(
        ConfigError, match="DQN needs discrete actions; Pendulum-v1 has continuous ones"
    ):
        check_training_options("DQN", {}, load_schema("Pendulum-v1"))
    check_training_options("PPO", {"policy": "MlpPolicy"}, load_schema("CartPole-v1"))
