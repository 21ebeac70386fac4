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
    assert doc_section(doc, "Observation Space") == "Some text."  # the table becomes fields
    assert "| 0 | Cart Position | -4.8 | 4.8 |" in doc_section(
        doc, "Observation Space", inline=False
    )
    assert doc_table(doc, "Observation") == [
        {"Num": "0", "Observation": "Cart Position", "Min": "-4.8", "Max": "4.8"},
        {"Num": "excluded", "Observation": "hidden", "Min": "-Inf", "Max": "Inf"},
    ]
    assert doc_table(doc, "Action") == []


# --------------------------------------------------------------------------- what the real gymnasium envs say


def _visible(s):  # noqa: ANN001, ANN202
    return [f for f in s.fields if not f.hidden]


def test_bipedal_walker_reads_the_observation_section_and_bounds_per_index() -> None:
    s = load_schema("BipedalWalker-v3")
    (obs,) = _visible(s)
    assert obs.shape == [24]
    assert "no documentation found" not in obs.description
    assert "hull angle speed, angular velocity, horizontal speed" in obs.description
    assert "10 lidar rangefinder measurements" in obs.description
    # not one merged [-5, 5]: the bounds of each run of indices
    assert "[0] in [-3.142, 3.142]; [1..3] in [-5, 5];" in obs.description
    assert "[8] in [0, 5]" in obs.description and "[14..23] in [-1, 1]" in obs.description


def test_docstring_noise_stays_out_and_lists_stay_lists() -> None:
    walker = load_schema("BipedalWalker-v3").description
    assert (
        "There are two versions:\n\n- Normal, with slightly uneven terrain.\n- Hardcore" in walker
    )
    car = load_schema("CarRacing-v3").description
    for text in (walker, car):
        assert "```" not in text and "python gymnasium/envs" not in text
    assert "To run the heuristic" not in walker and "To play yourself" not in car
    assert "Remember: it's a powerful rear-wheel drive car" in car
    blackjack = render_schema(load_schema("Blackjack-v1"))
    assert "<a" not in blackjack and "[1]" not in blackjack and "by Sutton and Barto." in blackjack


def test_frozen_lake_gets_the_position_encoding_and_the_map() -> None:
    s = load_schema("FrozenLake-v1")
    (obs,) = _visible(s)
    assert "`current_row * ncols + current_col`" in obs.description
    assert "An integer in 0..15." in obs.description
    assert "Map (4 rows × 4 columns, row 0 at the top; S: Start tile, G: Goal tile" in s.description
    assert "\n    SFFF\n    FHFH\n    FFFH\n    HFFG" in s.description
    assert "H: a tile with a hole" in render_schema(s)


def test_episode_length_is_the_real_time_limit() -> None:
    blackjack = load_schema("Blackjack-v1")
    assert blackjack.episode_length is None
    assert "No time limit: an episode lasts until the environment ends it." in render_schema(
        blackjack
    )
    assert "At most" not in render_schema(blackjack)
    assert load_schema("Taxi-v4").episode_length == 200
    assert load_schema("FrozenLake-v1").episode_length == 100
    gym.register(
        "autoreward-test/ShortDot-v0", entry_point="obs_envs:DotImageEnv", max_episode_steps=37
    )
    try:
        short = load_schema("autoreward-test/ShortDot-v0")
        assert short.episode_length == 37 and "At most 37 steps per episode." in render_schema(
            short
        )
    finally:
        del gym.registry["autoreward-test/ShortDot-v0"]


def test_an_image_observation_is_one_field_described_as_an_image() -> None:
    s = load_schema("CarRacing-v3")
    (obs,) = _visible(s)
    assert (obs.name, obs.shape) == ("observation", [96, 96, 3])
    assert "A top-down 96x96 RGB image of the car and race track." in obs.description
    assert (
        "An RGB image (96, 96, 3) (height × width × channels; row 0 is the top)" in obs.description
    )
    assert render_schema(s).count("\n| ") == 2  # the header row and one field


def test_dict_entries_keep_their_shapes_images_included() -> None:
    s = load_schema(f"{__name__}:CameraDictEnv")
    assert [(f.name, f.shape) for f in _visible(s)] == [("camera", [36, 36, 1]), ("speed", [1])]
    assert "grey-scale image (36, 36, 1)" in s.field("camera").description
    _, _, next_state = sample_transitions(s, n=3)
    assert next_state["camera"].shape == (3, 36, 36, 1) and next_state["camera"].max() <= 255


class CameraDictEnv(gym.Env):
    """A camera and a speed."""

    observation_space = gym.spaces.Dict(
        {"camera": gym.spaces.Box(0, 255, (36, 36, 1), dtype=np.uint8),
         "speed": gym.spaces.Box(-1.0, 1.0, (1,))}
    )  # fmt: skip
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}
