"""The Crafter gymnasium env: API, seeding, observations, rendering, and the one module that
reads Crafter's private attributes."""

from __future__ import annotations

import crafter
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import autoreward.envs.builtin  # noqa: F401 (registers Crafter-v1)
from autoreward.envs.crafter import internals
from autoreward.envs.crafter.env import CrafterEnv
from autoreward.envs.crafter.semantic import POLICY_OBS_SIZE, VALUE_NAMES
from autoreward.envs.crafter.tables import CREATURE_IDS, MATERIAL_IDS, NOT_VISIBLE
from autoreward.errors import ConfigError


def _world(env: gym.Env) -> np.ndarray:
    return internals.material_map(env.unwrapped.game).copy()  # type: ignore[attr-defined]


def _rollout(env: gym.Env, seed: int, actions: list[int]) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, *_ = env.step(a)
        out.append(obs)
    return out


def test_passes_gymnasium_env_checker() -> None:
    env = CrafterEnv()
    check_env(env, skip_render_check=True)
    assert env.action_space == gym.spaces.Discrete(17)
    assert env.observation_space.shape == (POLICY_OBS_SIZE,)


def test_seeding_same_seed_same_world_and_play_other_seed_other_world() -> None:
    env = gym.make("Crafter-v1")
    actions = [int(a) for a in np.random.default_rng(0).integers(0, 17, size=60)]
    first = _rollout(env, 7, actions)
    world_7 = _world(env)
    again = _rollout(env, 7, actions)
    assert np.array_equal(world_7, _world(env))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    env.reset(seed=8)
    assert not np.array_equal(world_7, _world(env))
    # a reset without a seed draws the next world from the env's generator: new every episode
    env.reset(seed=7)
    env.reset()
    unseeded = _world(env)
    assert not np.array_equal(unseeded, world_7)
    env.reset()
    assert not np.array_equal(unseeded, _world(env))


def test_death_terminates_and_the_time_limit_truncates() -> None:
    env = gym.make("Crafter-v1", max_episode_steps=15)
    env.reset(seed=0)
    for t in range(15):
        _, _, terminated, truncated, info = env.step(0)
        assert not terminated
        assert truncated == (t == 14)
    assert set(info["achievements"]) == set(crafter.constants.achievements)

    env = gym.make("Crafter-v1")
    env.reset(seed=0)
    internals.player(env.unwrapped.game).health = 0  # type: ignore[attr-defined]
    _, _, terminated, truncated, _ = env.step(0)
    assert terminated and not truncated
    assert gym.spec("Crafter-v1").max_episode_steps == 1000


def test_semantic_observation_is_one_hot_view_and_inventory() -> None:
    env = gym.make("Crafter-v1")
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    view = obs[: 7 * 9 * 19].reshape(7, 9, 19)
    assert np.all(view.sum(axis=-1) == 1.0)
    state = env.unwrapped.state_values()  # type: ignore[attr-defined]
    assert np.array_equal(view.argmax(axis=-1), state["local_view"])
    inventory = obs[7 * 9 * 19 : 7 * 9 * 19 + 16]
    assert inventory[:4].tolist() == [1.0, 1.0, 1.0, 1.0]  # vitals start at 9 of 9
    assert inventory[4:].sum() == 0.0
    facing = obs[-6:-2]
    assert facing.tolist() == [0.0, 0.0, 0.0, 1.0]  # the player starts facing down


def test_image_is_drawn_only_for_pixels_or_render(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = crafter.Env.render

    def counting(self: crafter.Env, size: object = None) -> np.ndarray:
        calls.append(size)
        return original(self, size)

    monkeypatch.setattr(crafter.Env, "render", counting)
    env = gym.make("Crafter-v1", render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(20):
        env.step(env.action_space.sample())
    assert calls == []
    frame = env.render()
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8 and len(calls) == 1

    pixels = gym.make("CrafterPixels-v1")
    obs, _ = pixels.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert pixels.observation_space.contains(obs) and obs.std() > 0
    obs, *_ = pixels.step(0)
    assert len(calls) == 3  # one frame per reset and step


def test_local_view_matches_crafters_own_semantic_map() -> None:
    env = gym.make("Crafter-v1")
    env.reset(seed=11)
    game = env.unwrapped.game  # type: ignore[attr-defined]
    rng = np.random.default_rng(1)
    for _ in range(150):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(0, 5)))
        if terminated or truncated:
            env.reset()
        full = np.zeros((64 + 8, 64 + 6), dtype=np.int64)
        full[4:-4, 3:-3] = internals.whole_semantic_map(game)  # Crafter's own, [x, y]
        x, y = internals.player(game).pos
        expected = full[x : x + 9, y : y + 7].T
        state = env.unwrapped.state_values()  # type: ignore[attr-defined]
        assert np.array_equal(state["local_view"], expected)
        assert state["local_view"][3, 4] == CREATURE_IDS["player"]


def test_distances_are_manhattan_to_the_nearest_visible_cell() -> None:
    env = gym.make("Crafter-v1")
    env.reset(seed=0)
    game = env.unwrapped.game  # type: ignore[attr-defined]
    x, y = (int(v) for v in internals.player(game).pos)
    mat = internals.material_map(game)
    mat[x - 4 : x + 5, y - 3 : y + 4] = MATERIAL_IDS["grass"]  # only grass in view
    mat[x + 2, y - 1] = MATERIAL_IDS["water"]
    mat[x - 1, y + 1] = MATERIAL_IDS["water"]
    mat[x, y + 1] = MATERIAL_IDS["table"]
    env.unwrapped.view.new_episode()  # type: ignore[attr-defined] # drop the cached view
    state = env.unwrapped.state_values()  # type: ignore[attr-defined]
    assert state["dist_water"] == 2.0 and state["dist_table"] == 1.0
    assert state["dist_tree"] == NOT_VISIBLE and state["near_table"] == 1.0
    assert state["facing_target"] == MATERIAL_IDS["table"]  # facing down, at the table
    assert set(state) == set(VALUE_NAMES)


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="obs must be 'semantic' or 'pixels', got 'rgb'"):
        CrafterEnv(obs="rgb")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="renders only 'rgb_array'"):
        CrafterEnv(render_mode="human")
    with pytest.raises(gym.error.ResetNeeded):
        CrafterEnv().step(0)


# =========================================================================== private attributes


def test_internals_check_passes_on_the_pinned_crafter() -> None:
    game = internals.Game(pixels=False, seed=0)
    internals.check_game(game)  # before the first reset (no player yet)
    game.reset()
    internals.check_game(game)
    assert internals.view_grid(game) == (9, 7)
    assert internals.material_ids(game) == {None: 0, **MATERIAL_IDS}


def test_a_moved_private_attribute_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    game = internals.Game(pixels=False, seed=0)
    game.reset()
    monkeypatch.delattr(game._world, "_obj_map")
    with pytest.raises(internals.CrafterInternalsError) as err:
        internals.check_game(game)
    text = str(err.value)
    assert "crafter.Env has no attribute '_world._obj_map'" in text
    assert "written for crafter==1.8.3" in text and "pip install 'crafter==1.8.3'" in text


def test_changed_id_tables_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    game = internals.Game(pixels=False, seed=0)
    game.reset()
    monkeypatch.setitem(game._world._mat_ids, "fence", 13)
    with pytest.raises(internals.CrafterInternalsError, match="material ids are .*'fence': 13"):
        internals.check_game(game)
    monkeypatch.delitem(game._world._mat_ids, "fence")
    monkeypatch.setattr(game._local_view, "_grid", np.array([9, 9]))
    with pytest.raises(internals.CrafterInternalsError, match=r"local view grid is \(9, 9\)"):
        internals.check_game(game)


def test_a_changed_action_list_fails_at_env_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crafter.constants, "actions", [*crafter.constants.actions, "jump"])
    with pytest.raises(internals.CrafterInternalsError, match="actions are .*'jump'"):
        CrafterEnv()
