"""State extraction checked against the environments' own numbers."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from test_envs_schema import REQUIRED

from autoreward.envs.extract import make_env, public_state, sample_transitions, stack_states
from autoreward.envs.registry import load_schema
from autoreward.errors import ConfigError


def _rollout(env: gym.Env, steps: int, seed: int = 0, action=None):
    """Yield (info, terminated, truncated) for `steps` steps, resetting on episode end."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(steps):
        a = env.action_space.sample() if action is None else action
        _, _, term, trunc, info = env.step(a)
        yield info, term, trunc
        if term or trunc:
            env.reset()


@pytest.mark.parametrize("env_id", REQUIRED)
def test_every_field_extracts_with_declared_shape(env_id: str) -> None:
    schema = load_schema(env_id)
    env = make_env(schema, seed=0)
    _, info = env.reset()
    states = [info["ar_state"]]
    states += [i["ar_state"] for i, _, _ in _rollout(env, 5)]
    env.close()
    for state in states:
        assert list(state) == [f.name for f in schema.fields]
        for f in schema.fields:
            value = np.asarray(state[f.name])
            assert value.shape == tuple(f.shape), f.name
            assert value.dtype == np.float64 and np.all(np.isfinite(value)), f.name


@pytest.mark.parametrize(
    "env_id", ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Swimmer-v5", "Ant-v5", "Humanoid-v5"]
)
def test_forward_velocity_equals_env_x_velocity(env_id: str) -> None:
    env = make_env(load_schema(env_id))
    for info, _, _ in _rollout(env, 40):
        assert info["ar_state"]["x_velocity"] == info["x_velocity"]
    env.close()


def test_velocity_is_zero_at_episode_start() -> None:
    env = make_env(load_schema("Hopper-v5"))
    _, info = env.reset(seed=3)
    assert info["ar_state"]["x_velocity"] == 0.0


def test_reacher_distance_equals_env_reward_term() -> None:
    env = make_env(load_schema("Reacher-v5"))
    for info, _, _ in _rollout(env, 60):
        s = info["ar_state"]
        dist = np.linalg.norm(s["fingertip_pos"] - s["target_pos"])
        assert dist == pytest.approx(-info["reward_dist"], rel=1e-12, abs=1e-15)
    env.close()


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Walker2d-v5"])
def test_torso_position_equals_qpos(env_id: str) -> None:
    env = make_env(load_schema(env_id))
    qpos = env.unwrapped.data.qpos
    for info, _, _ in _rollout(env, 30):
        s = info["ar_state"]
        assert (s["torso_x"], s["torso_height"], s["torso_angle"]) == tuple(qpos[:3])


def _touching(env: gym.Env, geom: str, other: str) -> bool:
    """Independent check: walk MjData.contact the slow way."""
    model, data = env.unwrapped.model, env.unwrapped.data
    g = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, geom)
    o = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, other)
    return any({int(c.geom1), int(c.geom2)} == {g, o} for c in data.contact)


def test_hopper_foot_contact_is_truthful() -> None:
    env = make_env(load_schema("Hopper-v5"))
    _, info = env.reset(seed=0)
    assert info["ar_state"]["foot_contact"] == 0.0  # starts 4 cm above the floor
    seen = set()
    for info, term, _ in _rollout(env, 60, action=np.zeros(3)):
        s = info["ar_state"]
        touching = _touching(env, "foot_geom", "floor")
        assert s["foot_contact"] == float(touching)
        assert (s["foot_contact_force"] > 0) == touching
        seen.add(touching)
        assert not term
    assert seen == {False, True}
    # standing still, the floor carries the robot's weight
    weight = env.unwrapped.model.body_mass.sum() * -env.unwrapped.model.opt.gravity[2]
    assert s["foot_contact_force"] == pytest.approx(weight, rel=0.2)


def test_ant_feet_contacts_match_mujoco() -> None:
    env = make_env(load_schema("Ant-v5"))
    feet = ["left_ankle_geom", "right_ankle_geom", "third_ankle_geom", "fourth_ankle_geom"]
    touched = np.zeros(4)
    for info, _, _ in _rollout(env, 40):
        expected = [float(_touching(env, f, "floor")) for f in feet]
        assert info["ar_state"]["foot_contacts"].tolist() == expected
        touched += expected
    assert touched.sum() > 0


def test_terminal_state_comes_before_autoreset_in_sb3_vec_env() -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv

    schema = load_schema("CartPole-v1")
    venv = DummyVecEnv([lambda: make_env(schema, seed=0)])
    venv.reset()
    assert "ar_state" in venv.reset_infos[0]
    for _ in range(500):
        obs, _, dones, infos = venv.step(np.array([1]))
        if dones[0]:
            break
    assert dones[0]
    terminal = infos[0]["ar_state"]
    assert terminal["pole_angle"] == pytest.approx(infos[0]["terminal_observation"][2])
    assert abs(terminal["pole_angle"]) > 0.2095 or abs(terminal["cart_position"]) > 2.4
    fresh = venv.reset_infos[0]["ar_state"]  # the auto-reset episode's first state
    assert fresh["pole_angle"] == pytest.approx(obs[0][2])
    assert abs(fresh["pole_angle"]) < 0.05


def test_terminal_state_in_gymnasium_vector_env() -> None:
    schema = load_schema("CartPole-v1")
    venv = gym.vector.SyncVectorEnv([lambda: make_env(schema, seed=1)])
    venv.reset(seed=1)
    for _ in range(500):
        obs, _, term, _, info = venv.step(np.array([0]))
        if term[0]:
            break
    assert term[0]
    assert info["ar_state"]["pole_angle"][0] == pytest.approx(obs[0][2])
    assert abs(info["ar_state"]["pole_angle"][0]) > 0.2095
    venv.close()


def test_sample_transitions_is_batched_consistent_and_deterministic() -> None:
    schema = load_schema("Hopper-v5")
    state, action, next_state = sample_transitions(schema, n=120, seed=4)
    assert action.shape == (120, 3)
    assert state["joint_angles"].shape == (120, 3) and next_state["torso_x"].shape == (120,)
    resets = np.flatnonzero(state["x_velocity"][1:] == 0.0) + 1
    assert resets.size > 0  # random Hopper falls within 120 steps
    for i in range(119):
        if i + 1 not in resets:  # within an episode, next_state[i] is state[i+1]
            assert next_state["torso_x"][i] == state["torso_x"][i + 1]
    again = sample_transitions(schema, n=120, seed=4)
    assert np.array_equal(again[1], action)
    assert np.array_equal(again[2]["torso_height"], next_state["torso_height"])


def test_stack_states_needs_input() -> None:
    with pytest.raises(ValueError, match="at least one state"):
        stack_states([])


def test_bad_body_name_is_named_with_the_alternatives() -> None:
    schema = load_schema("Hopper-v5")
    schema.fields[0].source = "xpos:torsoo"
    with pytest.raises(ConfigError, match="no body named 'torsoo'") as err:
        make_env(schema)
    assert "torso, thigh, leg, foot" in str(err.value)


def test_declared_shape_mismatch_is_reported_at_reset() -> None:
    schema = load_schema("Hopper-v5")
    schema.fields[0].shape = [2]
    env = make_env(schema)
    with pytest.raises(ConfigError, match=r"'torso_x' declares shape \[2\] but its source gives"):
        env.reset(seed=0)


def test_public_state_drops_hidden_fields() -> None:
    schema = load_schema("Pusher-v5")  # auto-schema: carries the hidden env_reward
    state, _, _ = sample_transitions(schema, n=2)
    assert "env_reward" in state
    assert "env_reward" not in public_state(schema, state)
    shipped = load_schema("Hopper-v5")
    hopper, _, _ = sample_transitions(shipped, n=2)
    assert public_state(shipped, hopper) is hopper
