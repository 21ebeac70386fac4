"""The analyzer: failure causes and changes from statistics and trajectories (autoreward.agents.analyzer)."""

from __future__ import annotations

from agentfakes import ScriptedClient, answer, llm_down

from autoreward.agents.analyzer import Analysis, Analyzer, parse_analysis

TASK = "Balance the pole upright as long as possible while keeping the cart near the centre."
SCHEMA = "# Environment: CartPole-v1"
BEST = "## cand_0 (fitness 0.62)\nupright mean 0.91; episodes end at the track edge after 310 steps"
WORST = "## cand_1 (fitness 0.31)\ncentre mean 0.05; final cart_position 2.41"
TABLE = "| cand | fitness |\n|---|---|\n| 0 | 0.62 |\n| 1 | 0.31 |"
OVERVIEW = "- iter 2 cand 0 · trained · fitness 0.62\n- iter 2 cand 1 · trained · fitness 0.31"


def analyze(text: str | Exception, worst: str | None = WORST) -> tuple[Analysis, ScriptedClient]:
    client = ScriptedClient({("analyzer", 0): [text]})
    result = Analyzer(client, SCHEMA, TASK).analyze(
        iteration=2, best=BEST, worst=worst, fitness_table=TABLE, candidates=OVERVIEW
    )
    return result, client


def test_analysis_sections_are_read_and_the_prompt_holds_the_evidence() -> None:
    analysis, client = analyze(answer("analyzer_cartpole_balance"))
    assert analysis.text == answer("analyzer_cartpole_balance")
    assert len(analysis.causes) == 3 and len(analysis.changes) == 3
    assert analysis.causes[0].startswith(
        "The worst candidate's episodes end by the cart leaving the track (mean final `cart_position` 2.41 m)"
    )
    assert analysis.changes[1] == (
        "Add a bounded term that rewards moving back towards the centre, e.g. `0.2 * tanh(-x * cart_velocity)`."
    )
    assert analysis.warning is None and analysis.prompt_version == "analyzer_v3"
    [call] = client.calls
    assert call.role == "analyzer" and call.position == {
        "iteration": 2,
        "prompt_version": "analyzer_v3",
    }
    assert call.templates == {"analyzer_v3", "system_analyzer_v1"}
    for part in (TASK, SCHEMA, BEST, WORST, TABLE, OVERVIEW):
        assert part in call.user


def test_with_one_trained_candidate_the_worst_section_is_left_out() -> None:
    _, client = analyze(answer("analyzer_cartpole_balance"), worst=None)
    [call] = client.calls
    assert "# The best candidate, in full" in call.user
    assert "# The worst candidate" not in call.user and call.user.count(BEST) == 1


def test_headings_in_other_forms_are_accepted() -> None:
    causes, changes = parse_analysis(
        "# Failure Causes:\n1. pole falls early\n2) cart drifts\n\n**Changes for the next iteration**\n"
        "* steeper centring\n\n## Notes\n- not a change\n"
    )
    assert causes == ["pole falls early", "cart drifts"]
    assert changes == ["steeper centring"]


def test_an_answer_without_the_sections_is_kept_with_a_warning() -> None:
    text = "## What went wrong\n\nThe pole falls.\n\n## What to change\n\n1. Reward uprightness more.\n"
    analysis, _ = analyze(text)
    assert analysis.text == text and analysis.causes == [] and analysis.changes == []
    assert "has no '## Failure causes'" in (analysis.warning or "")


def test_a_failed_call_gives_an_empty_analysis_with_a_warning() -> None:
    analysis, _ = analyze(llm_down())
    assert analysis.text == "" and analysis.warning is not None
    assert analysis.warning.startswith("analyzer call failed: openai/fake-model")
