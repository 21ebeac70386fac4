"""RL Zoo hyperparameter files as input: the entry for the env, read as data, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoreward.errors import ConfigError
from autoreward.train.sb3.hyperparams import check_hyperparams, resolve_hyperparams
from autoreward.train.sb3.zoo import apply_zoo_file, load_zoo_entry

ZOO = Path(__file__).parent / "fixtures" / "zoo"


def test_entry_for_the_env_with_timesteps_envs_and_python_strings() -> None:
    entry = load_zoo_entry(ZOO / "ppo.yml", "CartPole-v1")
    assert (entry.key, entry.steps, entry.n_envs) == ("CartPole-v1", 2000, 2)
    assert entry.hyperparams["policy_kwargs"] == {"net_arch": [64, 64], "activation_fn": "nn.Tanh"}
    assert entry.hyperparams["learning_rate"] == "lin_0.001"
    assert "n_timesteps" not in entry.hyperparams and "n_envs" not in entry.hyperparams
    check_hyperparams("PPO", entry.hyperparams)  # every name is a PPO argument

    car = load_zoo_entry(ZOO / "ppo.yml", "MountainCarContinuous-v0")
    assert car.hyperparams["normalize"] == {"norm_obs": True, "norm_reward": False}
    assert car.hyperparams["policy_kwargs"] == {
        "log_std_init": -3.29, "ortho_init": False, "net_arch": {"pi": [64], "vf": [64]},
    }  # fmt: skip
    assert car.steps == 20_000 and car.hyperparams["learning_rate"] == pytest.approx(7.77e-05)


def test_noise_type_and_std_become_action_noise() -> None:
    import numpy as np
    from gymnasium import spaces
    from stable_baselines3.common.noise import NormalActionNoise

    entry = load_zoo_entry(ZOO / "td3.yml", "Pendulum-v1")
    assert entry.hyperparams["action_noise"] == "normal_0.1"
    assert "noise_type" not in entry.hyperparams and "noise_std" not in entry.hyperparams
    check_hyperparams("TD3", entry.hyperparams)
    _, kwargs, _ = resolve_hyperparams(
        "TD3", entry.hyperparams, spaces.Box(-2, 2, (1,), dtype=np.float32)
    )
    assert isinstance(kwargs["action_noise"], NormalActionNoise)
    assert kwargs["train_freq"] == (1, "episode")


def test_unlisted_env_takes_the_default_entry_and_missing_ones_are_named(tmp_path: Path) -> None:
    assert load_zoo_entry(ZOO / "ppo.yml", "Hopper-v5").key == "default"
    with pytest.raises(
        ConfigError, match="has no entry for CartPol-v1 \\(and no 'default' entry\\)"
    ) as err:
        load_zoo_entry(ZOO / "td3.yml", "CartPol-v1")
    assert "its entries: Pendulum-v1" in str(err.value)
    with pytest.raises(ConfigError, match="cannot read hyperparameter file"):
        load_zoo_entry(tmp_path / "nope.yml", "CartPole-v1")
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not an RL Zoo hyperparameter file"):
        load_zoo_entry(tmp_path / "list.yml", "CartPole-v1")


def test_what_autoreward_does_not_do_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("CartPole-v1:\n  frame_stack: 4\n  n_timesteps: 1000\n")
    with pytest.raises(ConfigError, match="RL Zoo's 'frame_stack' is not supported"):
        load_zoo_entry(tmp_path / "a.yml", "CartPole-v1")
    with pytest.raises(
        ConfigError, match="'env_kwargs' is not supported: put make_kwargs in an env schema"
    ):
        load_zoo_entry(ZOO / "ppo.yml", "Acrobot-v1")
    (tmp_path / "b.yml").write_text("CartPole-v1:\n  policy: 'my_pkg.MyPolicy'\n")
    with pytest.raises(ConfigError, match="custom policy class 'my_pkg.MyPolicy' is not supported"):
        load_zoo_entry(tmp_path / "b.yml", "CartPole-v1")
    (tmp_path / "c.yml").write_text(
        "CartPole-v1:\n  policy_kwargs: \"dict(activation_fn=__import__('os'))\"\n"
    )
    with pytest.raises(ConfigError, match="is not plain data"):
        load_zoo_entry(tmp_path / "c.yml", "CartPole-v1")


def test_explicit_options_win_over_the_file() -> None:
    options = {"env_id": "CartPole-v1", "hyperparams_file": ZOO / "ppo.yml",
               "hyperparams": {"n_steps": 128}, "steps": None, "n_envs": 4}  # fmt: skip
    out = apply_zoo_file(options)
    assert out["hyperparams"]["n_steps"] == 128 and out["hyperparams"]["gamma"] == 0.98
    assert (out["steps"], out["n_envs"]) == (2000, 4)
    assert apply_zoo_file({"env_id": "CartPole-v1"}) == {"env_id": "CartPole-v1"}
