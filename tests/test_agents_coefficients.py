"""The COEFFICIENTS literal of a reward: parsed and rewritten from the source text alone."""

from __future__ import annotations

import pytest

from autoreward.agents.coefficients import (
    CoefficientError,
    has_coefficients,
    parse_coefficients,
    rewrite_coefficients,
)
from autoreward.sandbox.validate import validate_code

REWARD = """import numpy as np

# weights — tuned by autoreward (a non-ASCII comment before the literal)
COEFFICIENTS = {
    "forward": (1.0, 0.1, 5.0),  # main driver
    "upright": [0.5, 0.0, 2.0],
    "ctrl": (-0.001, -0.01, 0.0), "alive": (1, 0, 3),
}


def compute_reward(state, action, next_state):
    c = COEFFICIENTS
    fwd = c["forward"][0] * next_state["x_velocity"]
    up = c["upright"][0] * np.cos(next_state["torso_angle"])
    ctrl = c["ctrl"][0] * np.sum(action ** 2, axis=-1)
    alive = c["alive"][0] * np.ones_like(fwd)
    return fwd + up + ctrl + alive, {"forward": fwd, "upright": up, "ctrl": ctrl, "alive": alive}
"""


def test_the_literal_is_read_in_source_order_with_its_ranges() -> None:
    coefs = parse_coefficients(REWARD)
    assert [(c.name, c.value, c.low, c.high) for c in coefs] == [
        ("forward", 1.0, 0.1, 5.0),
        ("upright", 0.5, 0.0, 2.0),
        ("ctrl", -0.001, -0.01, 0.0),
        ("alive", 1.0, 0.0, 3.0),
    ]
    assert has_coefficients(REWARD)


def test_a_reward_without_the_literal_has_no_coefficients() -> None:
    src = "def compute_reward(s, a, n):\n    return a, {}\n"
    assert parse_coefficients(src) == [] and not has_coefficients(src)


def test_the_validator_accepts_the_literal() -> None:
    assert validate_code(REWARD) == []


def test_rewriting_changes_only_the_first_number_of_each_named_tuple() -> None:
    out = rewrite_coefficients(REWARD, {"forward": 2.5, "ctrl": -0.0042, "alive": 0.25})
    assert '"forward": (2.5, 0.1, 5.0),  # main driver' in out
    assert '"ctrl": (-0.0042, -0.01, 0.0), "alive": (0.25, 0, 3),' in out
    assert '"upright": [0.5, 0.0, 2.0],' in out
    assert (
        out.replace("2.5, 0.1", "1.0, 0.1")
        .replace("-0.0042,", "-0.001,")
        .replace("(0.25, 0, 3)", "(1, 0, 3)")
        == REWARD
    )
    assert {c.name: c.value for c in parse_coefficients(out)} == {
        "forward": 2.5,
        "upright": 0.5,
        "ctrl": -0.0042,
        "alive": 0.25,
    }
    assert validate_code(out) == []


def test_rewriting_refuses_values_outside_the_range_and_unknown_names() -> None:
    with pytest.raises(
        CoefficientError, match=r"'forward': expected a value in \[0.1, 5\], got 9.0"
    ):
        rewrite_coefficients(REWARD, {"forward": 9.0})
    with pytest.raises(CoefficientError, match="unknown coefficient.*speed.*declares forward"):
        rewrite_coefficients(REWARD, {"speed": 1.0})


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("COEFFICIENTS = dict(a=(1.0, 0.0, 2.0))", "must be a dict literal.*got Call"),
        ('COEFFICIENTS = {"a": (1.0, 0.0)}', r"expected \(value, low, high\) as three numbers"),
        ('COEFFICIENTS = {"a": (x, 0.0, 2.0)}', "numeric literals.*got x"),
        ('COEFFICIENTS = {"a": (3.0, 0.0, 2.0)}', "low <= value <= high, got 3 outside"),
        ('COEFFICIENTS = {"a": (1.0, 2.0, 2.0)}', "expected low < high"),
        ('COEFFICIENTS = {"a b": (1.0, 0.0, 2.0)}', "expected an identifier"),
        ('COEFFICIENTS = {"a": (1.0, 0.0, 2.0), "a": (1.0, 0.0, 2.0)}', "appears twice"),
        ("COEFFICIENTS = {1: (1.0, 0.0, 2.0)}", "keys must be string literals, got 1"),
        ('COEFFICIENTS = {"a": (True, 0.0, 2.0)}', "numeric literals"),
        (
            "COEFFICIENTS = {" + ", ".join(f'"k{i}": (1, 0, 2)' for i in range(17)) + "}",
            "17 entries; at most 16",
        ),
        ('COEFFICIENTS = {}\nCOEFFICIENTS = {"a": (1, 0, 2)}', "assigned 2 times"),
    ],
)
def test_a_literal_that_breaks_the_contract_says_what_was_expected(
    literal: str, message: str
) -> None:
    with pytest.raises(CoefficientError, match=message):
        parse_coefficients(literal + "\n")
