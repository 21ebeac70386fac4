"""Normalised code hash (autoreward.agents.dedup)."""

from __future__ import annotations

from pathlib import Path

from autoreward.agents.dedup import normalized_code_hash
from autoreward.agents.parsing import extract_code

FIXTURES = Path(__file__).parent / "fixtures" / "llm"

BASE = """import numpy as np


def compute_reward(state, action, next_state):
    angle = next_state["pole_angle"]
    x = next_state["cart_position"]
    upright = np.cos(angle)
    centre = -0.1 * np.abs(x)
    total = upright + centre
    return total, {"upright": upright, "centre": centre}
"""

SAME_BEHAVIOUR = '''import numpy as np

def compute_reward(s: dict, a: np.ndarray, s2: dict) -> tuple:
    """Upright pole, centred cart."""
    # the pole
    th = s2["pole_angle"]
    pos = s2["cart_position"]      # the cart
    u: np.ndarray = np.cos(th)
    c = -0.1 * np.abs(pos)

    t = u + c
    return t, {"upright": u, "centre": c}
'''


def h(src: str) -> str:
    return normalized_code_hash(src)


def test_comments_whitespace_docstrings_annotations_and_local_names_do_not_count() -> None:
    assert h(BASE) == h(SAME_BEHAVIOUR)


def test_fixture_duplicate_matches_its_original() -> None:
    original = extract_code((FIXTURES / "designer_cartpole_1.md").read_text())
    duplicate = extract_code((FIXTURES / "designer_cartpole_duplicate.md").read_text())
    assert original != duplicate
    assert h(original) == h(duplicate)
    revised = extract_code((FIXTURES / "designer_cartpole_refine.md").read_text())
    assert h(original) != h(revised)


def test_constants_keys_fields_operators_and_calls_count() -> None:
    changes = {
        "constant": BASE.replace("-0.1 *", "-0.2 *"),
        "dict key": BASE.replace('{"upright": upright', '{"up": upright'),
        "state field": BASE.replace('next_state["cart_position"]', 'next_state["cart_velocity"]'),
        "operator": BASE.replace("upright + centre\n", "upright - centre\n"),
        "function": BASE.replace("np.cos(angle)", "np.sin(angle)"),
        "argument order": BASE.replace(
            "(state, action, next_state)", "(next_state, action, state)"
        ),
        "global name": BASE.replace("import numpy as np", "import numpy as nq").replace(
            "np.", "nq."
        ),
    }
    for what, src in changes.items():
        assert src != BASE, what
        assert h(src) != h(BASE), f"a change of {what} must change the hash"


def test_renaming_is_by_first_appearance_so_swapping_roles_counts() -> None:
    a = "def f(x, y):\n    return x - y\n"
    b = "def f(y, x):\n    return y - x\n"  # same function, names swapped
    c = "def f(x, y):\n    return y - x\n"  # different function
    assert h(a) == h(b)
    assert h(a) != h(c)


def test_nested_scopes_comprehensions_and_helpers() -> None:
    a = (
        "import numpy as np\n\ndef helper(v):\n    return np.tanh(v)\n\n"
        "def compute_reward(state, action, next_state):\n"
        "    terms = {k: helper(next_state[k]) for k in ('pole_angle', 'cart_position')}\n"
        "    def scale(z):\n        return 0.5 * z\n"
        "    total = sum(scale(t) for t in terms.values())\n    return total, terms\n"
    )
    b = (
        a.replace("(v)", "(value)")
        .replace("tanh(v)", "tanh(value)")
        .replace("k:", "key:")
        .replace("[k]", "[key]")
        .replace("for k in", "for key in")
        .replace("scale(z)", "half(w)")
        .replace("0.5 * z", "0.5 * w")
        .replace("scale(t) for t", "half(q) for q")
    )
    assert a != b
    assert h(a) == h(b)
    # The helper's own name is not a local: renaming it is a different program text.
    assert h(a) != h(a.replace("helper", "squash"))


def test_code_that_does_not_parse_still_hashes_ignoring_blank_lines_and_comments() -> None:
    broken = "def compute_reward(s, a, n):\n    return (1,\n"
    assert h(broken) == h("# note\n" + broken.replace("\n", "\n\n"))
    assert h(broken) != h(broken.replace("1", "2"))
