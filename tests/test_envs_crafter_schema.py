"""The Crafter schemas: every field extracts with its declared shape and sensible values, the
text the LLM reads matches the installed Crafter, `env:` sources and `extends` behave."""

from __future__ import annotations

import re
from pathlib import Path

import crafter
import gymnasium as gym
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.envs.crafter.tables import (
    ACHIEVEMENTS,
    ACTIONS,
    CREATURE_IDS,
    DISTANCE_TARGETS,
    ITEMS,
    MATERIAL_IDS,
    NOT_VISIBLE,
)
from autoreward.envs.extract import STATE_KEY, make_env, sample_transitions
from autoreward.envs.recipes import StateExtractor
from autoreward.envs.registry import load_schema, load_schema_file, render_schema
from autoreward.envs.schema import StateField
from autoreward.errors import ConfigError


@pytest.fixture(scope="module")
def transitions() -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    return sample_transitions(load_schema("Crafter-v1"), n=400, seed=2)


def test_every_field_extracts_with_its_declared_shape(transitions: tuple) -> None:
    schema = load_schema("Crafter-v1")
    state, action, next_state = transitions
    assert set(state) == {f.name for f in schema.fields}
    for f in schema.fields:
        assert state[f.name].shape == (400, *f.shape), f.name
        assert np.isfinite(state[f.name]).all(), f.name
    assert action.shape == (400,) and set(np.unique(action)) <= set(range(17))


def test_field_values_are_sensible(transitions: tuple) -> None:
    state, _, next_state = transitions
    for name in ("health", "food", "drink", "energy", *(f"inv_{i}" for i in ITEMS)):
        assert state[name].min() >= 0 and state[name].max() <= 9, name
    assert state["health"].max() == 9 and state["drink"].min() < 9  # vitals move
    assert ((state["player_pos"] >= 0) & (state["player_pos"] <= 63)).all()
    assert np.isin(np.abs(state["facing"]).sum(axis=1), [1.0]).all()
    assert set(np.unique(state["sleeping"])) <= {0.0, 1.0}
    assert 0 <= state["daylight"].min() and state["daylight"].max() <= 1
    view = state["local_view"]
    assert set(np.unique(view)) <= set(range(19)) and (view[:, 3, 4] == 13).all()
    for thing in DISTANCE_TARGETS:
        d = state[f"dist_{thing}"]
        assert ((d >= 0) & (d <= NOT_VISIBLE)).all(), thing
        ids = MATERIAL_IDS.get(thing, CREATURE_IDS.get(thing))
        visible = (view == ids).reshape(len(view), -1).any(axis=1)
        if thing in CREATURE_IDS:  # materials may hide under a creature; creatures never do
            assert np.array_equal(visible, d < NOT_VISIBLE), thing
    assert (state["dist_tree"] < NOT_VISIBLE).any()  # the player starts on grassland
    grow = next_state["achievements_unlocked"] - state["achievements_unlocked"]
    assert set(np.unique(grow)) <= {0.0, 1.0, -state["achievements_unlocked"].max()}
    for a in ACHIEVEMENTS:
        assert state[f"ach_{a}"].min() >= 0


def test_envs_show_prints_the_semantic_fields_and_the_id_table() -> None:
    result = CliRunner().invoke(app, ["envs", "show", "Crafter-v1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for name in ("health", "inv_wood", "ach_collect_diamond", "player_pos", "facing",
                 "sleeping", "daylight", "local_view", "dist_zombie", "dist_lava"):  # fmt: skip
        assert f"| {name} |" in text
    assert "| local_view | (N, 7, 9) | id |" in text
    assert "0 outside the world, 1 water, 2 grass" in text
    assert "8.0 when none is in view" in text
    assert "achievements_unlocked" in text and "expression" not in text


def test_the_id_table_the_llm_reads_is_crafters() -> None:
    schema = load_schema("Crafter-v1")
    for name in ("local_view", "facing_target"):
        table = schema.field(name).description.split("Ids: ")[-1].split(": ")[-1]
        described = {n: int(i) for i, n in re.findall(r"(\d+) ([a-z ]+?)(?:,|\.)", table)}
        assert described == {"outside the world": 0, **MATERIAL_IDS, **CREATURE_IDS}, name


def test_the_rules_the_llm_reads_are_crafters() -> None:
    """Recipe numbers stated in the schema text, against the installed Crafter's data."""
    schema = load_schema("Crafter-v1")
    actions = schema.action.description
    assert ", ".join(f"{i} {a}" for i, a in enumerate(ACTIONS)) in actions
    assert tuple(crafter.constants.actions) == ACTIONS
    place = crafter.constants.place
    assert place["table"]["uses"] == {"wood": 2} and "table: 2 wood" in actions
    assert place["furnace"]["uses"] == {"stone": 4} and "furnace: 4 stone" in actions
    assert place["stone"]["uses"] == {"stone": 1} and "stone: 1 stone" in actions
    make = crafter.constants.make
    assert make["wood_pickaxe"]["uses"] == {"wood": 1}
    assert "1 wood, next to a table" in schema.field("inv_wood_pickaxe").description
    assert make["iron_pickaxe"]["nearby"] == ["table", "furnace"]
    collect = crafter.constants.collect
    assert collect["stone"]["require"] == {"wood_pickaxe": 1}
    assert "with a wood_pickaxe" in schema.field("inv_stone").description
    assert collect["tree"]["leaves"] == "grass" and "the tree becomes grass" in (
        schema.field("inv_wood").description
    )


def test_schema_episode_length_matches_the_registered_time_limit() -> None:
    for env_id in ("Crafter-v1", "CrafterPixels-v1"):
        schema = load_schema(env_id)
        assert gym.spec(env_id).max_episode_steps == schema.episode_length == 1000


def test_pixel_schema_extends_the_semantic_one() -> None:
    base, pixels = load_schema("Crafter-v1"), load_schema("CrafterPixels-v1")
    assert pixels.fields == base.fields and pixels.fitness == base.fitness
    assert pixels.train.hyperparams == {**base.train.hyperparams, "policy": "CnnPolicy"}
    env = make_env(pixels, seed=0)
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and info[STATE_KEY]["local_view"].shape == (7, 9)


def test_extends_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "A-v0.yaml").write_text(yaml.safe_dump({"extends": "B-v0", "env_id": "A-v0"}))
    (tmp_path / "B-v0.yaml").write_text(yaml.safe_dump({"extends": "A-v0", "env_id": "B-v0"}))
    with pytest.raises(ConfigError, match="'extends' goes round in a circle through A-v0.yaml"):
        load_schema_file(tmp_path / "A-v0.yaml")
    (tmp_path / "C-v0.yaml").write_text(yaml.safe_dump({"extends": "Nope-v0"}))
    with pytest.raises(ConfigError, match="extends 'Nope-v0', but there is no Nope-v0.yaml"):
        load_schema_file(tmp_path / "C-v0.yaml")


def test_env_sources_name_unknown_values_and_envs_without_a_semantic_state() -> None:
    env = make_env(load_schema("Crafter-v1"))
    bad = StateField(name="x", shape=[], unit="u", description="d", source="env:wood")
    with pytest.raises(ConfigError, match="has no state value 'wood'") as err:
        StateExtractor([bad], env, context="Crafter-v1")
    assert "inv_wood" in str(err.value)
    cart = gym.make("CartPole-v1")
    field = StateField(name="x", shape=[], unit="u", description="d", source="env:health")
    with pytest.raises(ConfigError, match="CartPoleEnv has no state_values"):
        StateExtractor([field], cart)


def test_render_schema_hides_nothing_the_designer_needs() -> None:
    text = render_schema(load_schema("Crafter-v1"))
    assert "At most 1000 steps per episode." in text
    assert "`action`: integer array, shape (N,), values 0..16." in text
    assert "Notes for reward design" in text
