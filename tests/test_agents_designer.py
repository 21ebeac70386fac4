"""The designer: sampling, check-and-repair, refine prompts, revisions (autoreward.agents.designer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agentfakes import ScriptedClient, answer, cartpole_check, llm_down

from autoreward.agents.critic import Critic
from autoreward.agents.designer import DesignContext, Designer, Proposal
from autoreward.agents.parsing import extract_code
from autoreward.errors import LLMError, RewardCodeError

TASK = "Balance the pole upright as long as possible while keeping the cart near the centre."
SCHEMA = "# Environment: CartPole-v1\n\n| name | shape | unit | description |\n| pole_angle | (N,) | rad | ... |"


def designer(client: ScriptedClient, **kwargs: object) -> Designer:
    return Designer(client, SCHEMA, TASK, check=cartpole_check, **kwargs)  # type: ignore[arg-type]


def test_good_answers_pass_without_repair_and_calls_carry_meta() -> None:
    client = ScriptedClient(
        {
            ("designer", 0): [answer("designer_cartpole_1")],
            ("designer", 1): [answer("designer_cartpole_2")],
        }
    )
    proposals = designer(client, temperature=0.7).propose(2, iteration=3)
    assert [p.index for p in proposals] == [0, 1]
    assert all(p.ok and p.error is None and p.n_repairs == 0 for p in proposals)
    assert proposals[0].code == extract_code(answer("designer_cartpole_1"))
    assert proposals[1].answers == [answer("designer_cartpole_2")]
    assert proposals[0].prompt_versions == ["designer_initial_v3"]
    assert (proposals[0].tokens, proposals[0].cost, proposals[0].calls) == (
        120,
        pytest.approx(0.002),
        1,
    )
    calls = sorted(client.calls, key=lambda c: c.sample_index)
    assert [c.sample_index for c in calls] == [0, 1], "each candidate is its own sample"
    assert calls[1].position == {
        "iteration": 3,
        "candidate": 1,
        "stage": "designer",
        "attempt": 0,
        "prompt_version": "designer_initial_v3",
    }
    assert calls[1].templates == {
        "designer_initial_v3",
        "system_designer_v1",
        "reward_contract_v3",
        "action_continuous_v1",
    }
    assert calls[0].meta["template_hash"] == calls[1].meta["template_hash"]
    assert calls[0].temperature == 0.7
    system, user = calls[0].messages
    assert system["role"] == "system" and "reward design" in system["content"]
    assert TASK in user["content"] and SCHEMA in user["content"]
    assert "Only `import numpy as np` and `import math`" in user["content"], "the contract is shown"
    assert "{{" not in user["content"]


def test_broken_code_is_repaired_once_with_the_exact_error() -> None:
    client = ScriptedClient(
        {
            ("designer", 0): [answer("designer_cartpole_syntax_error")],
            ("repair", 0): [answer("repair_cartpole")],
        }
    )
    [p] = designer(client).propose(1, iteration=0)
    assert p.ok and p.n_repairs == 1
    assert p.code == extract_code(answer("repair_cartpole"))
    assert p.prompt_versions == ["designer_initial_v3", "repair_v1"]
    assert len(p.answers) == 2 and p.calls == 2 and p.tokens == 240
    [repair] = client.by_role("repair")
    error = cartpole_check(extract_code(answer("designer_cartpole_syntax_error")))
    assert error is not None and "line 9, col 20: syntax error" in error
    assert error in repair.user, "the exact check error goes back"
    assert "balance = np.exp(-np.square(angle / 0.1)\n" in repair.user, "with the broken code"
    assert TASK in repair.user
    assert repair.position == {
        "iteration": 0,
        "candidate": 0,
        "stage": "designer",
        "attempt": 1,
        "prompt_version": "repair_v1",
    }


def test_still_broken_after_two_repairs_fails_with_the_last_error() -> None:
    bad = answer("designer_cartpole_forbidden_import")
    client = ScriptedClient({("designer", 0): [bad], ("repair", 0): [bad, bad]})
    [p] = designer(client).propose(1, iteration=1)
    assert not p.ok and p.n_repairs == 2
    assert p.error is not None and "scipy" in p.error and "static check" in p.error
    assert p.code == extract_code(bad), "the last code is kept for the record"
    assert len(p.answers) == 3
    assert p.prompt_versions == ["designer_initial_v3", "repair_v1", "repair_v1"]
    assert len(client.by_role("repair")) == 2


def test_max_repairs_zero_fails_at_once() -> None:
    client = ScriptedClient({("designer", 0): [answer("designer_cartpole_wrong_shape")]})
    [p] = designer(client, max_repairs=0).propose(1, iteration=0)
    assert not p.ok and p.n_repairs == 0
    assert p.error == "dry run failed: the total has shape (); expected (8,), one value per env"


def test_an_answer_without_code_gets_repair_with_the_answer_itself() -> None:
    client = ScriptedClient(
        {
            ("designer", 0): [answer("designer_cartpole_no_code")],
            ("repair", 0): [answer("designer_cartpole_1")],
        }
    )
    [p] = designer(client).propose(1, iteration=0)
    assert p.ok and p.n_repairs == 1
    [repair] = client.by_role("repair")
    assert "the answer has no python code block defining compute_reward" in repair.user
    assert "Let me know if you would like me to write this out" in repair.user


def test_wrong_shape_then_syntax_error_then_fixed() -> None:
    client = ScriptedClient(
        {
            ("designer", 0): [answer("designer_cartpole_wrong_shape")],
            ("repair", 0): [answer("designer_cartpole_syntax_error"), answer("repair_cartpole")],
        }
    )
    [p] = designer(client).propose(1, iteration=0)
    assert p.ok and p.n_repairs == 2
    first, second = client.by_role("repair")
    assert "the total has shape ()" in first.user
    assert "line 9, col 20: syntax error" in second.user


def test_candidates_are_independent_and_indexed_from_first_index() -> None:
    client = ScriptedClient(
        {
            ("designer", 4): [answer("designer_cartpole_1")],
            ("designer", 5): [answer("designer_cartpole_forbidden_import")],
            ("designer", 6): [answer("designer_cartpole_syntax_error")],
            ("repair", 5): [answer("designer_cartpole_forbidden_import")] * 2,
            ("repair", 6): [answer("repair_cartpole")],
        }
    )
    proposals = designer(client).propose(3, iteration=2, first_index=4)
    assert [(p.index, p.iteration, p.ok, p.n_repairs) for p in proposals] == [
        (4, 2, True, 0),
        (5, 2, False, 2),
        (6, 2, True, 1),
    ]


def test_a_failed_llm_call_fails_only_its_candidate() -> None:
    client = ScriptedClient(
        {("designer", 0): [llm_down()], ("designer", 1): [answer("designer_cartpole_1")]}
    )
    first, second = designer(client).propose(2, iteration=0)
    assert not first.ok and first.code is None
    assert (
        first.error == "the LLM call failed: openai/fake-model: connection refused after 5 attempts"
    )
    assert second.ok


def test_every_call_failing_raises() -> None:
    client = ScriptedClient({("designer", None): [llm_down(), llm_down()]})
    with pytest.raises(LLMError, match="connection refused"):
        designer(client).propose(2, iteration=0)


def test_a_failed_repair_call_keeps_the_check_error() -> None:
    client = ScriptedClient(
        {("designer", 0): [answer("designer_cartpole_wrong_shape")], ("repair", 0): [llm_down()]}
    )
    [p] = designer(client).propose(1, iteration=0)
    assert not p.ok and p.n_repairs == 1
    assert p.error is not None
    assert p.error.startswith("the LLM call for repair 1 failed: openai/fake-model")
    assert "the total has shape ()" in p.error


def test_a_check_that_raises_a_reward_code_error_counts_as_its_message() -> None:
    def check(code: str) -> str | None:
        raise RewardCodeError("dry run timed out after 10 s", hint="avoid Python loops over N")

    client = ScriptedClient(
        {
            ("designer", 0): [answer("designer_cartpole_1")],
            ("repair", 0): [answer("designer_cartpole_1")] * 2,
        }
    )
    [p] = Designer(client, SCHEMA, TASK, check=check).propose(1, iteration=0)
    assert not p.ok
    assert p.error == "dry run timed out after 10 s\n  hint: avoid Python loops over N"


def test_refine_prompt_carries_best_code_fitness_stats_analysis_and_feedback() -> None:
    best = extract_code(answer("designer_cartpole_1"))
    context = DesignContext(
        best_code=best,
        best_fitness=0.6234,
        fitness_summary="| cand | fitness |\n| 0 | 0.62 |\n| 1 | 0.31 |",
        stats_text="upright: mean 0.91 at 10k steps, 0.95 at 20k steps",
        analysis_text=answer("analyzer_cartpole_balance"),
        human_feedback="The cart should not drift.",
        human_ranking=None,
    )
    client = ScriptedClient({("designer", 0): [answer("designer_cartpole_refine")]})
    [p] = designer(client).propose(1, iteration=1, context=context)
    assert p.ok and p.prompt_versions == ["designer_refine_v2"]
    user = client.calls[0].user
    assert best.strip() in user
    assert "Its fitness: **0.6234**." in user
    assert "| 1 | 0.31 |" in user and "upright: mean 0.91" in user
    assert "## Changes for the next iteration" in user
    assert "## Feedback from the user (give it priority)\n\nThe cart should not drift." in user
    assert "ranking of the candidates" not in user, "no ranking given, no section"
    assert client.calls[0].meta["prompt_version"] == "designer_refine_v2"


def test_first_iteration_feedback_goes_into_the_initial_prompt() -> None:
    client = ScriptedClient({("designer", 0): [answer("designer_cartpole_1")]})
    designer(client).propose(
        1, iteration=0, context=DesignContext(human_feedback="Prefer smooth terms.")
    )
    user = client.calls[0].user
    assert "# Guidance from the user (give it priority)\n\nPrefer smooth terms." in user
    plain = ScriptedClient({("designer", 0): [answer("designer_cartpole_1")]})
    designer(plain).propose(1, iteration=0, context=DesignContext())
    assert "Guidance from the user" not in plain.calls[0].user


def test_critic_revise_path_sends_the_issues_back_once() -> None:
    client = ScriptedClient(
        {
            ("designer", 0): [answer("designer_cartpole_2")],
            ("critic", 0): [answer("critic_revise")],
            ("revise", 0): [answer("revise_cartpole")],
        }
    )
    d = designer(client)
    [p] = d.propose(1, iteration=0)
    verdict = Critic(client, SCHEMA, TASK).review(p.code or "", iteration=0, index=0)
    assert not verdict.ok
    revised = d.revise(p, verdict.reason(), iteration=0, index=0)
    assert revised.ok and revised.n_repairs == 0
    assert revised.prompt_versions == ["revise_v2"]
    assert "alive = 0.2 * np.ones_like(theta)" in (revised.code or "")
    [call] = client.by_role("revise")
    assert "- scale: `alive` pays a constant 2.0 per step" in call.user
    assert "Reviewer's suggestion: Lower `alive` to about 0.2" in call.user
    assert "alive = 2.0 * np.ones_like(theta)" in call.user, "the code under revision is shown"
    assert call.position == {
        "iteration": 0,
        "candidate": 0,
        "stage": "revise",
        "attempt": 0,
        "prompt_version": "revise_v2",
    }
    assert "critic_feedback_v1" in call.templates, "the reason's template is part of the stamp"


def test_a_broken_revision_is_repaired_and_a_code_string_can_be_revised() -> None:
    client = ScriptedClient(
        {
            ("revise", 2): [answer("designer_cartpole_syntax_error")],
            ("repair", 2): [answer("repair_cartpole")],
        }
    )
    code = extract_code(answer("designer_cartpole_1"))
    revised = designer(client).revise(
        code, "It ranks stored episodes against fitness.", iteration=1, index=2
    )
    assert revised.ok and revised.n_repairs == 1 and revised.index == 2
    assert revised.prompt_versions == ["revise_v2", "repair_v1"]
    assert "It ranks stored episodes against fitness." in client.by_role("revise")[0].user
    repair = client.by_role("repair")[0]
    assert (repair.meta["stage"], repair.meta["attempt"]) == ("revise", 1), (
        "a repair of a revision is placed apart from a repair of the first design"
    )


def test_a_failed_revision_call_is_a_failed_proposal() -> None:
    client = ScriptedClient({("revise", 0): [llm_down()]})
    revised = designer(client).revise(
        "def compute_reward(s, a, n):\n    pass\n", "why", iteration=0, index=0
    )
    assert not revised.ok and revised.code is None
    with pytest.raises(ValueError, match="revise needs reward code"):
        designer(client).revise(Proposal(index=0), "why", iteration=0, index=0)


def test_proposals_round_trip_through_json() -> None:
    client = ScriptedClient({("designer", 0): [answer("designer_cartpole_1")]})
    [p] = designer(client).propose(1, iteration=0)
    assert Proposal.model_validate(json.loads(p.model_dump_json())) == p


def test_through_the_real_llm_client_and_its_cache(fake_llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from autoreward.llm.client import LLMClient

    fake_llm.add_rule(
        "# Advice", answer("designer_cartpole_1"), answer("designer_cartpole_syntax_error")
    )
    fake_llm.add_rule("was rejected before training", answer("repair_cartpole"))
    client = LLMClient(
        **fake_llm.client_kwargs(),
        log_dir=tmp_path / "llm",
        cache_dir=tmp_path / "cache",
        max_retries=0,
    )
    d = Designer(client, SCHEMA, TASK, check=cartpole_check)
    proposals = d.propose(2, iteration=0)
    assert all(p.ok for p in proposals)
    assert sorted(p.n_repairs for p in proposals) == [0, 1]
    assert len(fake_llm.chat_requests) == 3
    assert all(p.tokens > 0 for p in proposals)
    log = [json.loads(line) for line in (tmp_path / "llm" / "calls.jsonl").read_text().splitlines()]
    metas = sorted((r["role"], r["meta"]["candidate"], r["meta"]["prompt_version"]) for r in log)
    repaired = next(p.index for p in proposals if p.n_repairs == 1)
    assert metas == sorted(
        [
            ("designer", 0, "designer_initial_v3"),
            ("designer", 1, "designer_initial_v3"),
            ("repair", repaired, "repair_v1"),
        ]
    )

    # The same prompts again: every answer comes from the cache, nothing is paid twice.
    again = Designer(client, SCHEMA, TASK, check=cartpole_check).propose(2, iteration=0)
    assert len(fake_llm.chat_requests) == 3
    assert [p.code for p in again] == [p.code for p in proposals]
    assert all(p.cached_calls == p.calls and p.tokens == 0 for p in again)


def test_sample_offset_asks_the_same_prompt_for_fresh_samples() -> None:
    client = ScriptedClient({("designer", None): [answer("designer_cartpole_1")] * 4})
    d = Designer(client, SCHEMA, TASK, check=cartpole_check)
    first = d.propose(2, iteration=0)
    again = d.propose(2, iteration=1, sample_offset=2)
    assert [p.index for p in first] == [0, 1] and [p.index for p in again] == [0, 1]
    assert sorted(c.sample_index for c in client.calls) == [0, 1, 2, 3]
