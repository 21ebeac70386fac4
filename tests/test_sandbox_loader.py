"""Loading reward code: validation first, then restricted builtins at run time."""

from __future__ import annotations

import numpy as np
import pytest

from autoreward.errors import RewardCodeError
from autoreward.sandbox.loader import load_expression, load_reward_fn, safe_builtins

REWARD = """
import math
import numpy as np
import numpy.linalg
from numpy.linalg import norm

SCALE = 0.5

def compute_reward(state, action, next_state):
    print("debug output is dropped")
    dist = norm(next_state["pos"] - state["pos"], axis=-1)
    ctrl = -SCALE * np.linalg.norm(action, axis=-1) ** 2
    bonus = np.full(len(action), math.cos(0.0))
    return dist + ctrl + bonus, {"dist": dist, "ctrl": ctrl, "bonus": bonus}
"""


def test_loads_and_runs_a_valid_reward(capsys: pytest.CaptureFixture[str]) -> None:
    fn = load_reward_fn(REWARD)
    state = {"pos": np.zeros((4, 2))}
    nxt = {"pos": np.ones((4, 2))}
    total, terms = fn(state, np.ones((4, 3)), nxt)
    np.testing.assert_allclose(terms["dist"], np.sqrt(2))
    np.testing.assert_allclose(terms["ctrl"], -1.5)
    np.testing.assert_allclose(total, sum(terms.values()))
    assert capsys.readouterr().out == ""


def test_static_violations_are_listed_in_the_error() -> None:
    src = (
        "import os\nimport numpy as np\ndef compute_reward(s, a, n):\n    return np.load('x'), {}\n"
    )
    with pytest.raises(
        RewardCodeError, match=r"rejected by the static check \(2 problems\)"
    ) as err:
        load_reward_fn(src)
    assert "line 1, col 0: import os" in str(err.value)
    assert "line 4, col 11: np.load: numpy file I/O" in str(err.value)


def test_errors_while_the_module_body_runs_are_reported() -> None:
    src = "X = 1 / 0\ndef compute_reward(s, a, n):\n    return 0, {}\n"
    with pytest.raises(RewardCodeError, match="failed while loading: ZeroDivisionError"):
        load_reward_fn(src)


def test_a_different_entry_name() -> None:
    fn = load_reward_fn("def shaped(s, a, n):\n    return 1.0, {}\n", entry="shaped")
    assert fn({}, np.zeros(1), {}) == (1.0, {})


def test_restricted_builtins_hold_only_the_safe_subset() -> None:
    table = safe_builtins()
    for name in ("open", "exec", "eval", "getattr", "type", "globals", "compile", "input"):
        assert name not in table
    assert table["abs"] is abs and table["range"] is range
    with pytest.raises(
        ImportError, match="only numpy and math may be imported in reward code, not 'os'"
    ):
        table["__import__"]("os")
    with pytest.raises(ImportError, match="not 'numpy.random'"):
        table["__import__"]("numpy.random")
    assert table["__import__"]("numpy.linalg", None, None, ["norm"]) is np.linalg
    assert table["__import__"]("numpy.linalg") is np


def test_runtime_layer_stops_what_the_static_rules_let_through() -> None:
    # `type` is bound in another function, so the scope-insensitive static rule stands down;
    # the builtin itself is still absent at run time.
    src = (
        "def helper():\n    type = 1\n    return type\n\n"
        "def compute_reward(s, a, n):\n    return type(a), {}\n"
    )
    fn = load_reward_fn(src)
    with pytest.raises(NameError, match="'type' is not defined"):
        fn({}, np.zeros(1), {})


def test_load_expression_evaluates_over_named_inputs() -> None:
    fn = load_expression("np.abs(next_state['x']) > math.e", ["state", "action", "next_state"])
    out = fn(state={}, action=None, next_state={"x": np.array([1.0, -3.0])})
    assert out.tolist() == [False, True]
    with pytest.raises(TypeError, match="unexpected names"):
        fn(state={}, action=None, next_state={}, extra=1)
    with pytest.raises(RewardCodeError, match="name 'os'"):
        load_expression("os.system('x')", ["state"])


def test_array_methods_work_although_numpy_imports_their_code_lazily() -> None:
    fn = load_reward_fn(
        "import numpy as np\n"
        "def compute_reward(state, action, next_state):\n"
        "    x = next_state['x']\n"
        "    y = np.stack([x, x], axis=-1).max(axis=-1) + x.mean() + x.std() + x.clip(0, 1)\n"
        "    return y, {'y': y}\n"
    )
    x = np.arange(3.0)
    total, _ = fn({"x": x}, np.zeros(3), {"x": x})
    assert total.tolist() == pytest.approx((x + x.mean() + x.std() + x.clip(0, 1)).tolist())
