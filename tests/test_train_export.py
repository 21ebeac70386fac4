"""RewardWrapper: a generated reward inside a plain gymnasium env, for users' own scripts."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import autoreward
from autoreward.errors import ConfigError, RewardCodeError

DENSE = Path(__file__).parent / "fixtures" / "rewards" / "cartpole_dense.py"


def test_reward_replaced_env_reward_and_terms_kept() -> None:
    env = autoreward.RewardWrapper(gym.make("CartPole-v1"), DENSE)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(1)
    assert info["env_reward"] == 1.0
    assert set(info["reward_terms"]) == {"alive", "upright", "centred", "calm"}
    assert reward == pytest.approx(sum(info["reward_terms"].values()))
    assert reward != 1.0
    assert set(info["ar_state"]) == {
        "cart_position",
        "cart_velocity",
        "pole_angle",
        "pole_angular_velocity",
    }


def test_code_string_and_bad_inputs() -> None:
    code = "import numpy as np\ndef compute_reward(state, action, next_state):\n    r = np.zeros(len(action))\n    return r, {'zero': r}\n"
    env = autoreward.RewardWrapper(gym.make("CartPole-v1"), code, schema="CartPole-v1")
    env.reset(seed=0)
    assert env.step(0)[1] == 0.0
    with pytest.raises(ConfigError, match="reward file nope.py does not exist"):
        autoreward.RewardWrapper(gym.make("CartPole-v1"), "nope.py")
    with pytest.raises(RewardCodeError, match="rejected by the static check"):
        autoreward.RewardWrapper(
            gym.make("CartPole-v1"), "import os\ndef compute_reward(s, a, n):\n    return 0\n"
        )
    nan = "import numpy as np\ndef compute_reward(state, action, next_state):\n    r = np.full(1, np.nan)\n    return r, {'bad': r}\n"
    env = autoreward.RewardWrapper(gym.make("CartPole-v1"), nan)
    env.reset(seed=0)
    with pytest.raises(RewardCodeError, match="non-finite reward at step 1: component 'bad'"):
        env.step(0)
