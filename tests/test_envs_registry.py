"""Finding schemas by id, close-match errors, and the text the LLM sees."""

from __future__ import annotations

import pytest

from autoreward.envs.registry import load_schema, render_schema
from autoreward.errors import UnknownEnvError


def test_unknown_id_names_close_matches() -> None:
    with pytest.raises(UnknownEnvError, match="unknown environment 'Hoper-v5'") as err:
        load_schema("Hoper-v5")
    assert "did you mean Hopper-v5" in str(err.value)


def test_wrong_case_suggests_the_right_id() -> None:
    with pytest.raises(UnknownEnvError, match="did you mean CartPole-v1"):
        load_schema("cartpole-v1")


def test_hopeless_id_points_to_envs_list() -> None:
    with pytest.raises(UnknownEnvError, match="autoreward envs list"):
        load_schema("zzzzzzzzzzzzzzzz")


def test_render_never_shows_fitness_code_or_sources() -> None:
    s = load_schema("Hopper-v5")
    text = render_schema(s)
    assert s.fitness.expression not in text
    assert "fdvel:" not in text and "qpos:" not in text
    assert s.fitness.description in text
    for f in s.fields:
        assert f"| {f.name} |" in text
    assert "| joint_angles | (N, 3) | rad |" in text
    assert "`action`: float array, shape (N, 3), each in [-1, 1]." in text


def test_render_discrete_action_and_hints() -> None:
    text = render_schema(load_schema("CartPole-v1"))
    assert "integer array, shape (N,), values 0..1" in text
    assert "## Notes for reward design" in text
