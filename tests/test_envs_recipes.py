"""The `source` recipe grammar."""

from __future__ import annotations

import pytest

from autoreward.envs.recipes import parse_recipe
from autoreward.errors import ConfigError


def test_parse_full_recipe() -> None:
    r = parse_recipe("fdvel:xpos:torso[0:2]")
    assert (r.base, r.name, r.index, r.fdvel) == ("xpos", "torso", slice(0, 2), True)
    assert parse_recipe("xmat:torso[2::3]").index == slice(2, None, 3)
    assert parse_recipe("obs[-1]").index == -1
    assert parse_recipe("contact:a,b/floor").name == "a,b/floor"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("velocity:torso", "unknown state source 'velocity'"),
        ("contact", "needs a name: 'contact:NAME'"),
        ("com:torso", "'com' takes no name"),
        ("obs[1", "cannot parse state source"),
        ("obs[]", "empty index"),
        ("np.sum(obs)", "cannot parse state source"),
    ],
)
def test_bad_recipes_are_explained(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_recipe(text)
