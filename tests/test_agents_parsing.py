"""Code and JSON out of LLM answers (autoreward.agents.parsing)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from autoreward.agents.parsing import AnswerFormatError, extract_code, extract_json, fenced_blocks
from autoreward.errors import RewardCodeError

FIXTURES = Path(__file__).parent / "fixtures" / "llm"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _defines_entry(code: str) -> bool:
    return any(
        isinstance(n, ast.FunctionDef) and n.name == "compute_reward" for n in ast.parse(code).body
    )


@pytest.mark.parametrize(
    "name",
    [
        "designer_cartpole_1.md",
        "designer_cartpole_2.md",  # ```py fence
        "designer_cartpole_duplicate.md",
        "designer_cartpole_forbidden_import.md",
        "designer_cartpole_wrong_shape.md",
        "designer_cartpole_refine.md",
        "repair_cartpole.md",
        "revise_cartpole.md",
    ],
)
def test_fixture_answers_give_exactly_their_code_block(name: str) -> None:
    code = extract_code(fixture(name))
    assert code.startswith("import numpy as np\n")
    assert code.endswith("\n") and not code.endswith("\n\n")
    assert _defines_entry(code)
    assert "```" not in code


def test_code_that_does_not_parse_is_still_extracted_for_the_check_to_report() -> None:
    code = extract_code(fixture("designer_cartpole_syntax_error.md"))
    assert "balance = np.exp(-np.square(angle / 0.1)\n" in code
    assert "Both terms lie" not in code
    with pytest.raises(SyntaxError):
        ast.parse(code)


def test_prose_without_code_is_an_error_with_a_hint() -> None:
    with pytest.raises(
        RewardCodeError, match="the answer has no python code block defining compute_reward"
    ) as info:
        extract_code(fixture("designer_cartpole_no_code.md"))
    assert "```python" in (info.value.hint or "")


def test_a_block_in_another_language_is_not_code() -> None:
    answer = "Run it with:\n\n```bash\npython train.py\n```\n"
    with pytest.raises(RewardCodeError):
        extract_code(answer)


def test_the_block_defining_the_entry_wins_and_the_last_one_of_several() -> None:
    answer = (
        "First the helper idea:\n\n```python\nscale = 2.0\n```\n\n"
        "A first draft:\n\n```python\ndef compute_reward(state, action, next_state):\n    return 1\n```\n\n"
        'Example output:\n\n```json\n{"total": 1}\n```\n\n'
        "Final version:\n\n```python\nimport numpy as np\n\ndef compute_reward(state, action, next_state):\n"
        "    x = next_state['cart_position']\n    return -np.abs(x), {'centre': -np.abs(x)}\n```\n"
    )
    code = extract_code(answer)
    assert code.startswith("import numpy as np\n")
    assert "return 1" not in code


def test_helpers_from_other_blocks_are_merged_in() -> None:
    answer = (
        "A helper:\n\n```python\nimport math\n\ndef gauss(x, w):\n    return np.exp(-(x / w) ** 2) * math.pi\n"
        "\nUNUSED = 3\n```\n\nThe reward:\n\n```python\nimport numpy as np\n\n"
        "def compute_reward(state, action, next_state):\n    g = gauss(next_state['cart_position'], 1.2)\n"
        "    return g, {'centre': g}\n```\n"
    )
    code = extract_code(answer)
    tree = ast.parse(code)
    names = [getattr(n, "name", None) for n in tree.body]
    assert names.index("gauss") < names.index("compute_reward")
    assert "import math" in code, "the helper's own import comes along"
    assert "UNUSED" not in code


def test_bare_code_answer_is_taken_whole() -> None:
    answer = (
        "import numpy as np\n\n\ndef compute_reward(state, action, next_state):\n"
        "    up = np.cos(next_state['pole_angle'])\n    return up, {'up': up}\n"
    )
    assert extract_code(answer) == answer


def test_bare_code_after_and_before_prose() -> None:
    answer = (
        "Sure! Here is the reward:\n\nimport numpy as np\n\ndef compute_reward(state, action, next_state):\n"
        "    up = np.cos(next_state['pole_angle'])\n\n    return up, {'up': up}\n\nThis keeps the pole up.\n"
    )
    code = extract_code(answer)
    assert code.startswith("import numpy as np\n")
    assert code.rstrip().endswith("return up, {'up': up}")


def test_unterminated_fence_at_the_end_runs_to_the_end() -> None:
    answer = (
        "Here you go:\n\n```python\nimport numpy as np\n\ndef compute_reward(state, action, next_state):\n"
        "    up = np.cos(next_state['pole_angle'])\n    return up, {'up': up}\n"
    )
    code = extract_code(answer)
    assert _defines_entry(code)
    assert fenced_blocks(answer)[0].terminated is False


def test_tilde_and_long_fences_hold_inner_backticks() -> None:
    answer = (
        "~~~~python\nimport numpy as np\n\ndef compute_reward(state, action, next_state):\n"
        "    note = '```'\n    up = np.cos(next_state['pole_angle'])\n    return up, {'up': up}\n~~~~\n"
    )
    code = extract_code(answer)
    assert "note = '```'" in code and _defines_entry(code)


def test_another_entry_name_can_be_asked_for() -> None:
    answer = "```python\ndef shaped(state, action, next_state):\n    return 0, {}\n```"
    assert extract_code(answer, entry="shaped").startswith("def shaped(")
    with pytest.raises(RewardCodeError, match="defining compute_reward"):
        extract_code(answer)


# --------------------------------------------------------------------------- JSON


def test_verdicts_in_fences_are_read() -> None:
    assert extract_json(fixture("critic_ok.md")) == {
        "verdict": "ok",
        "issues": [],
        "suggestion": "",
    }
    revise = extract_json(fixture("critic_revise.md"))
    assert revise["verdict"] == "revise"
    assert [i["kind"] for i in revise["issues"]] == ["scale", "farmable"]


def test_json_without_fence_and_with_trailing_commas() -> None:
    answer = 'My verdict is {"verdict": "revise", "issues": [{"kind": "scale", "detail": "a } b",},],} ok?'
    data = extract_json(answer)
    assert data["issues"] == [{"kind": "scale", "detail": "a } b"}]


def test_a_json_block_in_a_plain_fence_is_read() -> None:
    assert extract_json('```\n{"verdict": "ok"}\n```') == {"verdict": "ok"}


def test_malformed_json_error_says_where() -> None:
    with pytest.raises(
        AnswerFormatError,
        match="the answer's JSON could not be read: Expecting ',' delimiter at line 5 column 3",
    ):
        extract_json(fixture("critic_malformed.md"))


def test_no_json_at_all() -> None:
    with pytest.raises(AnswerFormatError, match="the answer has no JSON object"):
        extract_json("Looks fine to me.")


def test_a_json_list_is_not_an_object() -> None:
    with pytest.raises(AnswerFormatError, match="expected a JSON object, got list"):
        extract_json("```json\n[1, 2]\n```")
