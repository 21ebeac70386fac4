"""The critic: JSON verdicts, never blocking the run (autoreward.agents.critic)."""

from __future__ import annotations

import pytest
from agentfakes import ScriptedClient, answer, llm_down

from autoreward.agents.critic import Critic, Issue, Verdict, parse_verdict
from autoreward.agents.parsing import extract_code
from autoreward.errors import AutorewardError

TASK = "Balance the pole upright as long as possible."
SCHEMA = "# Environment: CartPole-v1"
CODE = extract_code(answer("designer_cartpole_2"))


def review(text: str | Exception) -> tuple[Verdict, ScriptedClient]:
    client = ScriptedClient({("critic", 0): [text]})
    return Critic(client, SCHEMA, TASK).review(CODE, iteration=1, index=3), client


def test_ok_verdict() -> None:
    verdict, client = review(answer("critic_ok"))
    assert verdict.ok and verdict.issues == [] and verdict.warning is None
    assert verdict.raw == answer("critic_ok")
    assert verdict.prompt_version == "critic_v2" and verdict.tokens == 120
    [call] = client.calls
    assert call.role == "critic" and call.temperature == 0.0 and call.sample_index == 0
    assert call.position == {
        "iteration": 1,
        "candidate": 3,
        "stage": "critic",
        "attempt": 0,
        "prompt_version": "critic_v2",
    }
    assert call.templates == {
        "critic_v2",
        "system_critic_v1",
        "reward_contract_v3",
        "action_continuous_v1",
    }
    assert CODE.strip() in call.user and TASK in call.user
    assert '"verdict": "ok"' in call.user, "the expected JSON shape is shown"
    assert "You do not rewrite the code" in call.messages[0]["content"]


def test_revise_verdict_and_its_reason_text() -> None:
    verdict, _ = review(answer("critic_revise"))
    assert not verdict.ok
    assert [i.kind for i in verdict.issues] == ["scale", "farmable"]
    assert verdict.suggestion.startswith("Lower `alive` to about 0.2")
    rendered = verdict.reason()
    assert rendered.version == "critic_feedback_v1" and set(rendered.templates) == {
        "critic_feedback_v1"
    }
    reason = rendered.text
    assert reason.startswith(
        "A reviewer found these problems in the reward:\n\n- scale: `alive` pays"
    )
    assert "\n- farmable: With `alive` dominating" in reason
    assert reason.endswith(
        "Reviewer's suggestion: Lower `alive` to about 0.2 so that `balance` and `on_track` dominate the return.\n"
    )


def test_reason_without_suggestion_has_no_suggestion_line() -> None:
    reason = Verdict(ok=False, issues=[Issue(kind="wrong_sign", detail="x")]).reason().text
    assert reason == "A reviewer found these problems in the reward:\n\n- wrong_sign: x\n"


def test_malformed_answer_counts_as_ok_with_a_warning() -> None:
    verdict, _ = review(answer("critic_malformed"))
    assert verdict.ok
    assert verdict.warning is not None
    assert verdict.warning.startswith(
        "critic answer not understood, treated as ok: the answer's JSON"
    )
    assert verdict.raw == answer("critic_malformed")


def test_failed_call_counts_as_ok_with_a_warning() -> None:
    verdict, _ = review(llm_down())
    assert verdict.ok and verdict.raw == ""
    assert verdict.warning == (
        "critic call failed, reward not reviewed: openai/fake-model: connection refused after 5 attempts"
    )


def test_lenient_issue_reading() -> None:
    verdict = parse_verdict(
        '```json\n{"verdict": " Revise ", "issues": ["terms are unscaled", '
        '{"kind": "reward_hacking", "detail": "spins"}, {"kind": "UNBOUNDED", "description": "1/x"}]}\n```'
    )
    assert not verdict.ok and verdict.suggestion == ""
    assert [(i.kind, i.detail) for i in verdict.issues] == [
        ("other", "terms are unscaled"),
        ("other", "[reward_hacking] spins"),
        ("unbounded", "1/x"),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"verdict": "maybe"}', 'must be "ok" or "revise", got \'maybe\''),
        ('{"issues": []}', 'must be "ok" or "revise", got None'),
        ('{"verdict": "ok", "issues": "none"}', "'issues' must be a list, got str"),
    ],
)
def test_unusable_verdicts_say_why(text: str, error: str) -> None:
    with pytest.raises(AutorewardError, match=error):
        parse_verdict(text)
