"""Meta-World and Fetch as autoreward envs: the two MuJoCo 4 shims (each fails loudly once
upstream no longer needs it), the semantic state the schemas promise, success on scripted
episodes, fresh task variations per seed, and headless rendering."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from autoreward.envs.builtin import FETCH_TASKS, METAWORLD_TASKS, register_builtin_envs
from autoreward.envs.extract import STATE_KEY, make_env, sample_transitions, stack_states
from autoreward.envs.registry import load_schema, render_schema
from autoreward.train.evaluate import EpisodeTrace, score_traces

pytest.importorskip("metaworld")
pytest.importorskip("gymnasium_robotics")
register_builtin_envs()


def test_metaworld_shim_is_still_needed() -> None:
    from autoreward.envs.manipulation import metaworld_compat

    assert metaworld_compat.shim_needed(), (
        "Meta-World's own reset_mocap_welds works on this MuJoCo now: delete "
        "autoreward/envs/manipulation/metaworld_compat.py and call metaworld directly"
    )


def test_gymnasium_robotics_shim_is_still_needed() -> None:
    from autoreward.envs.manipulation import robotics_compat

    assert robotics_compat.shim_needed(), (
        "gymnasium-robotics' joint helpers work on this MuJoCo now: delete "
        "autoreward/envs/manipulation/robotics_compat.py"
    )


@pytest.mark.parametrize(
    "env_id",
    ["MetaWorld-drawer-open-v3", "MetaWorld-pick-place-v3", "Fetch-push-v4", "Fetch-reach-v4"],
)
def test_every_field_extracts_with_its_declared_shape(env_id: str) -> None:
    schema = load_schema(env_id)
    state, actions, next_state = sample_transitions(schema, n=8, seed=0)
    assert actions.shape == (8, 4)
    for field in schema.fields:
        assert next_state[field.name].shape == (8, *field.shape), field.name
        assert np.isfinite(next_state[field.name]).all(), field.name
    text = render_schema(schema)
    assert "success" not in [f.name for f in schema.fields if f.name in text.split("|")]
    assert "hidden" not in text and ("is_success |" not in text and "| success |" not in text)


def test_every_shipped_manipulation_schema_loads_and_matches_its_time_limit() -> None:
    ids = [f"MetaWorld-{t}-v3" for t in METAWORLD_TASKS] + [f"Fetch-{t}-v4" for t in FETCH_TASKS]
    for env_id in ids:
        schema = load_schema(env_id)
        assert schema.env_id == env_id
        assert gym.spec(env_id).max_episode_steps == schema.episode_length


def _scripted_episode(env_id: str, seed: int, steps: int) -> EpisodeTrace:
    """Meta-World's own scripted policy for the task, through the schema's env."""
    import metaworld.policies as policies

    task = env_id.removeprefix("MetaWorld-").removesuffix("-v3")
    name = "Sawyer" + "".join(p.capitalize() for p in task.split("-")) + "V3Policy"
    policy = getattr(policies, name)()
    env = make_env(load_schema(env_id), seed=seed)
    obs, info = env.reset(seed=seed)
    states, actions, rewards = [info[STATE_KEY]], [], []
    for _ in range(steps):
        action = np.clip(policy.get_action(obs), -1, 1)
        obs, reward, terminated, truncated, info = env.step(action)
        states.append(info[STATE_KEY])
        actions.append(action)
        rewards.append(reward)
    return EpisodeTrace(
        seed=seed,
        states=stack_states(states),
        actions=np.array(actions),
        env_rewards=np.array(rewards),
        terminated=terminated,
        truncated=truncated,
    )


def test_drawer_open_scripted_success_moves_the_semantic_state() -> None:
    schema = load_schema("MetaWorld-drawer-open-v3")
    trace = _scripted_episode("MetaWorld-drawer-open-v3", seed=3, steps=150)
    s = trace.states
    assert s["task_joint"][0] == pytest.approx(0.0, abs=0.01)
    assert s["task_joint"][-1] < -0.12  # the slide opened towards -0.16
    np.testing.assert_allclose(s["task_joint_range"][-1], [-0.16, 0.0])
    assert s["tcp_to_obj"].min() < 0.05 and s["obj_to_goal"][-1] < s["obj_to_goal"][0]
    assert s["success"].max() == 1.0 and s["success"][0] == 0.0
    np.testing.assert_allclose(
        s["obj_to_goal"], np.linalg.norm(s["obj_pos"] - s["goal_pos"], axis=1)
    )
    assert np.abs(s["obj_vel"]).max() > 0.01
    idle = EpisodeTrace(
        **{
            **trace.__dict__,
            "states": {k: v[:2] for k, v in s.items()},
            "actions": trace.actions[:1],
            "env_rewards": trace.env_rewards[:1],
        }
    )
    evaluation = score_traces([trace, idle], schema)
    assert [e.success for e in evaluation.episodes] == [True, False]
    assert evaluation.fitness == pytest.approx(0.5)


def test_pick_place_grasp_shows_in_the_pad_contacts() -> None:
    s = _scripted_episode("MetaWorld-pick-place-v3", seed=0, steps=200).states
    grasped = (s["left_pad_contact"] > 0) & (s["right_pad_contact"] > 0)
    assert grasped.any() and s["left_pad_contact"][0] == 0.0
    assert s["gripper_opening"][grasped].min() > 0.02  # the puck keeps the pads apart
    assert s["obj_pos"][grasped][:, 2].max() > s["obj_pos"][0, 2] + 0.02  # lifted


def test_each_seed_is_a_new_task_variation_and_replays() -> None:
    env = gym.make("MetaWorld-push-v3")
    goals = []
    for seed in (0, 1, 0):
        env.reset(seed=seed)
        goals.append(np.array(env.unwrapped.state_values()["goal_pos"]))
    assert not np.allclose(goals[0], goals[1]) and np.allclose(goals[0], goals[2])
    env.reset()
    assert not np.allclose(env.unwrapped.state_values()["goal_pos"], goals[0])


def test_fetch_reach_is_goal_conditioned_and_scored_at_the_end() -> None:
    schema = load_schema("Fetch-reach-v4")
    env = make_env(schema, seed=0)
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert set(env.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    traces = []
    for seed, gain in ((0, 10.0), (1, 0.0)):
        _, info = env.reset(seed=seed)
        states = [info[STATE_KEY]]
        for _ in range(schema.episode_length or 50):
            s = states[-1]
            action = np.r_[np.clip((s["goal_pos"] - s["grip_pos"]) * gain, -1, 1), 0.0]
            _, _, terminated, truncated, info = env.step(action)
            states.append(info[STATE_KEY])
        assert truncated and not terminated
        traces.append(
            EpisodeTrace(
                seed=seed,
                states=stack_states(states),
                actions=np.zeros((50, 4)),
                env_rewards=np.zeros(50),
                terminated=False,
                truncated=True,
            )
        )
    assert traces[0].states["obj_to_goal"][-1] < 0.05 and traces[0].states["is_success"][-1] == 1
    assert [e.success for e in score_traces(traces, schema).episodes] == [True, False]


def test_unknown_tasks_name_close_ones() -> None:
    from autoreward.envs.manipulation.fetch_env import FetchEnv
    from autoreward.envs.manipulation.metaworld_env import MetaWorldEnv
    from autoreward.errors import ConfigError

    with pytest.raises(ConfigError, match="drawer-open-v3"):
        MetaWorldEnv("drawer-opn-v3")
    with pytest.raises(ConfigError, match="PickAndPlace"):
        FetchEnv("PickAndPlac")


@pytest.mark.parametrize("env_id", ["MetaWorld-reach-v3", "Fetch-push-v4"])
def test_renders_headless(env_id: str) -> None:
    env = make_env(load_schema(env_id), render_mode="rgb_array", seed=0)
    env.reset(seed=0)
    frame = env.render()
    assert frame is not None and frame.shape == (256, 256, 3) and frame.std() > 5


def test_batch_dry_run_of_two_manipulation_tasks() -> None:
    from typer.testing import CliRunner

    from autoreward.cli import app

    result = CliRunner().invoke(
        app, ["batch", "manipulation", "--tasks", "reach,fetch-reach", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "every task checks out" in result.output


@pytest.mark.expensive
def test_train_a_reward_file_on_metaworld_end_to_end(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from autoreward.cli import app

    reward = Path(__file__).parents[1] / "bench" / "rewards" / "metaworld_reach.py"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(reward),
            "--env",
            "MetaWorld-reach-v3",
            "--steps",
            "1024",
            "--n-envs",
            "2",
            "--eval-episodes",
            "2",
            "--video",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "reward"
    train = json.loads((out / "train.json").read_text())
    assert train["status"] == "ok" and train["steps"] >= 1024
    assert train["fitness_kind"] == "success" and 0.0 <= train["fitness"] <= 1.0
    assert train["episode_length"] == 500.0
    assert json.loads((out / "stats.json").read_text())["components"] == [
        "progress",
        "near",
        "reached",
        "effort",
    ]
    assert (out / "video.mp4").stat().st_size > 0 and train["video_status"].startswith("ok")
