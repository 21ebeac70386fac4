"""Automatic schemas from observation spaces, docstrings and MuJoCo models."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from autoreward.envs.autoschema import doc_section, doc_table
from autoreward.envs.extract import make_env, sample_transitions
from autoreward.envs.recipes import model_names
from autoreward.envs.registry import load_schema, render_schema
from autoreward.errors import UnknownEnvError


class TinyDictEnv(gym.Env):
    """A point that moves towards a goal.

    ## Description
    A point on a line is pushed towards a goal.
    """

    observation_space = gym.spaces.Dict(
        {"position": gym.spaces.Box(-1.0, 1.0, (2,)), "goal": gym.spaces.Box(-1.0, 1.0, (2,))}
    )
    action_space = gym.spaces.Box(-0.1, 0.1, (2,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._pos = np.zeros(2, dtype=np.float32)
        return self._obs(), {}

    def step(self, action):
        self._pos = np.clip(self._pos + action, -1, 1).astype(np.float32)
        reward = -float(np.linalg.norm(self._pos - 0.5))
        return self._obs(), reward, False, False, {}

    def _obs(self):
        return {"position": self._pos.copy(), "goal": np.full(2, 0.5, dtype=np.float32)}


def test_mujoco_docstring_env_gets_named_fields() -> None:
    s = load_schema("Pusher-v5")
    assert s.auto
    names = [f.name for f in s.fields]
    assert names[:2] == ["r_shoulder_pan_joint_angle", "r_shoulder_lift_joint_angle"]
    assert {"tips_arm_x", "object_x", "goal_y", "body_pos", "joint_pos", "com_pos"} <= set(names)
    assert s.field("tips_arm_x").unit == "m" and s.field("tips_arm_x").source == "obs[14]"
    assert "r_shoulder_pan_link" in s.field("body_pos").description
    assert s.action.shape == [7] and "r_shoulder_pan_joint" in s.action.description
    _, _, next_state = sample_transitions(s, n=8)
    assert next_state["body_pos"].shape == (8, *s.field("body_pos").shape)
    # the docstring's fingertip observation and the model's 'tips_arm' body agree
    env = make_env(s)
    row = model_names(env.unwrapped.model, "body").index("tips_arm")
    tips = np.stack([next_state[k] for k in ("tips_arm_x", "tips_arm_y", "tips_arm_z")], axis=1)
    assert np.allclose(next_state["body_pos"][:, row], tips)


def test_auto_fitness_is_env_return_through_a_hidden_field() -> None:
    s = load_schema("Pusher-v5")
    env_reward = s.field("env_reward")
    assert env_reward.hidden and env_reward.source == "reward"
    assert s.fitness.expression == 'next_state["env_reward"]' and s.fitness.aggregate == "sum"
    text = render_schema(s)
    assert "env_reward" not in text and "episode return" in text
    env = make_env(s, seed=0)
    env.reset()
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert info["ar_state"]["env_reward"] == reward


def test_classic_env_as_module_class_entry_point() -> None:
    s = load_schema("gymnasium.envs.classic_control.pendulum:PendulumEnv")
    assert [f.name for f in s.fields[:3]] == ["x_cos_theta", "y_sin_theta", "angular_velocity"]
    assert "range [-8.0, 8.0]" in s.field("angular_velocity").description
    assert s.action.low == -2.0 and s.episode_length == 1000
    _, action, next_state = sample_transitions(s, n=5)
    assert np.allclose(next_state["x_cos_theta"] ** 2 + next_state["y_sin_theta"] ** 2, 1.0)


def test_dict_observation_entry_point() -> None:
    s = load_schema(f"{__name__}:TinyDictEnv")
    assert s.description == "A point on a line is pushed towards a goal."
    assert [(f.name, f.shape, f.source) for f in s.fields if not f.hidden] == [
        ("goal", [2], "obs:goal"),
        ("position", [2], "obs:position"),  # gymnasium sorts keys
    ]
    state, action, next_state = sample_transitions(s, n=4)
    assert np.allclose(next_state["goal"], 0.5)
    assert np.allclose(next_state["position"] - state["position"], action, atol=1e-6)


def test_tuple_observation_falls_back_to_one_array() -> None:
    s = load_schema("Blackjack-v1")
    assert [(f.name, f.shape) for f in s.fields if not f.hidden] == [("observation", [3])]
    assert s.action.n == 2 and s.fitness.target is None


def test_bad_entry_points_are_explained() -> None:
    with pytest.raises(UnknownEnvError, match="cannot import module 'no_such_module'"):
        load_schema("no_such_module:Env")
    with pytest.raises(UnknownEnvError, match="has no attribute 'Nope'"):
        load_schema("gymnasium:Nope")
    with pytest.raises(UnknownEnvError, match="is not a gymnasium.Env subclass"):
        load_schema("gymnasium.spaces:Box")


def test_doc_helpers() -> None:
    doc = """Intro.

    ## Observation Space
    Some   text.

    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0   | Cart Position | -4.8 | 4.8 |
    | excluded | hidden | -Inf | Inf |

    ## Rewards
    """
    assert doc_section(doc, "Observation Space").startswith("Some text. | Num |")
    assert doc_table(doc, "Observation") == [
        {"Num": "0", "Observation": "Cart Position", "Min": "-4.8", "Max": "4.8"},
        {"Num": "excluded", "Observation": "hidden", "Min": "-Inf", "Max": "Inf"},
    ]
    assert doc_table(doc, "Action") == []
