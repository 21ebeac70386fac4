"""The scripted LLM answers in tests/fixtures/llm are what they claim, on real CartPole states.

The loop's end-to-end test reuses these answers; this keeps them coherent with the shipped
CartPole-v1 schema and the sandbox's rules (good ones pass, broken ones break the stated way).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from agentfakes import answer

from autoreward.agents.parsing import extract_code
from autoreward.envs.extract import sample_transitions
from autoreward.envs.registry import load_schema
from autoreward.errors import RewardCodeError
from autoreward.sandbox.loader import load_reward_fn
from autoreward.sandbox.validate import validate_code

GOOD = [
    "designer_cartpole_1",
    "designer_cartpole_2",
    "designer_cartpole_duplicate",
    "designer_cartpole_refine",
    "repair_cartpole",
    "revise_cartpole",
]


Batch = tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]


@pytest.fixture(scope="module")
def batch() -> Batch:
    return sample_transitions(load_schema("CartPole-v1"), n=64, seed=0)


@pytest.mark.parametrize("name", GOOD)
def test_good_answers_pass_validation_and_a_dry_run(name: str, batch: Batch) -> None:
    schema = load_schema("CartPole-v1")
    code = extract_code(answer(name))
    assert validate_code(code) == []
    used = set(re.findall(r'state\["(\w+)"\]', code))
    assert used <= {f.name for f in schema.fields}, "only schema field names"
    state, action, next_state = batch
    total, terms = load_reward_fn(code)(state, action, next_state)
    assert total.shape == (64,) and np.all(np.isfinite(total))
    assert 2 <= len(terms) <= 8
    assert all(v.shape == (64,) for v in terms.values())
    np.testing.assert_allclose(sum(terms.values()), total)
    assert np.all(np.abs(total) < 10), "per-step total within the contract's range"


def test_syntax_error_answer_fails_to_parse() -> None:
    [violation] = validate_code(extract_code(answer("designer_cartpole_syntax_error")))
    assert violation.construct == "syntax error" and violation.line == 9


def test_forbidden_import_answer_is_refused_statically() -> None:
    violations = validate_code(extract_code(answer("designer_cartpole_forbidden_import")))
    assert any("scipy" in str(v) for v in violations)


def test_wrong_shape_answer_loads_but_returns_a_scalar_total(batch: Batch) -> None:
    code = extract_code(answer("designer_cartpole_wrong_shape"))
    assert validate_code(code) == []
    total, terms = load_reward_fn(code)(*batch)
    assert np.shape(total) == () and all(v.shape == (64,) for v in terms.values())


def test_no_code_answer_has_no_code() -> None:
    with pytest.raises(RewardCodeError):
        extract_code(answer("designer_cartpole_no_code"))
