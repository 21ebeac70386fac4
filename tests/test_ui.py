"""The live view keeps a correct picture from loop events, including the final-seed phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from runfakes import make_run, mark_replayed

from autoreward.loop.loop import LoopResult
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir
from autoreward.ui import RunView, evaluation_kind, print_run_summary


def render(view: RunView) -> str:
    console = Console(width=140, record=True)
    console.print(view.render())
    return console.export_text()


def test_view_follows_candidates_progress_best_and_seeds() -> None:
    view = RunView(env_id="CartPole-v1", task="balance", model="openai/x", iterations=2)
    view.update({"event": "iteration_start", "iteration": 0})
    view.update(
        {
            "event": "candidate",
            "iteration": 0,
            "candidate": 0,
            "state": "failed",
            "reason": "line 3: NaN",
        }
    )
    view.update(
        {"event": "progress", "iteration": 0, "candidate": 1, "steps": 512, "total_steps": 4096}
    )
    view.update({"event": "best", "iteration": 0, "candidate": 1, "fitness": 0.75})
    view.update({"event": "llm_usage", "tokens": 1234, "cost": 0.01})
    text = render(view)
    assert "512/4,096" in text and "line 3: NaN" in text
    assert "0.75 (iter 0 cand 1, 1 seed)" in text and "1,234 tokens" in text

    view.update({"event": "phase", "phase": "final seeds"})
    view.update({"event": "progress", "candidate": "seed 1000", "steps": 10, "total_steps": 20})
    text = render(view)
    assert "seed 1000" in text and "10/20" in text
    view.update(
        {"event": "final", "iteration": 0, "index": 1, "mean": 0.6, "std": 0.1, "n_seeds": 3}
    )
    assert "0.6 (iter 0 cand 1, ± 0.1 over 3 seeds)" in render(view)
    assert "line 3: NaN" not in text  # the iteration's candidates are gone from the final phase


def test_plain_output_when_not_a_terminal_names_each_event() -> None:
    from autoreward.ui import LiveRunView

    console = Console(width=120, record=True, force_terminal=False)
    view = RunView(env_id="CartPole-v1", task="balance", model="m", iterations=1)
    with LiveRunView(view, console) as live:
        live(
            {
                "event": "candidate",
                "iteration": 0,
                "candidate": 1,
                "state": "done",
                "fitness": 0.35640000001,
            }
        )
    text = console.export_text()
    assert "[candidate] iteration=0 candidate=1 state=done fitness=0.3564\n" in text


def test_a_budget_note_is_shown_live_and_in_plain_output() -> None:
    from autoreward.ui import LiveRunView

    note = "PPO rollouts of 2,048 steps (4 envs × n_steps 512): n_steps 2048 shrunk to n_steps 512"
    view = RunView(env_id="CartPole-v1", task="balance", model="m", iterations=1)
    view.update({"event": "run_start", "budget": 8192, "budget_note": note})
    assert f"budget: {note}" in " ".join(render(view).split())
    console = Console(width=60, record=True, force_terminal=False)
    with LiveRunView(
        RunView(env_id="CartPole-v1", task="b", model="m", iterations=1), console
    ) as live:
        live({"event": "run_start", "budget": 8192, "budget_note": note})
    assert f"budget: {note}" in console.export_text()  # one line, not wrapped


def test_the_run_summary_shows_the_spread_the_estimates_and_replayed_texts(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    mark_replayed(run, {"role": "analyzer", "meta": {"iteration": 0}},
                  {"role": "critic", "meta": {"iteration": 1, "candidate": 0}})  # fmt: skip
    result = LoopResult.model_validate(json.loads((run / "result.json").read_text()) | {
        "final": json.loads((run / "best" / "final.json").read_text())
    })  # fmt: skip
    console = Console(width=200, record=True)
    print_run_summary(console, str(run), result)
    text = " ".join(console.export_text().split())
    assert ("best: iteration 1 candidate 0, fitness 470 ± 12.5 over 2 seeds (fresh training seeds; "
            "screening 480)") in text  # fmt: skip
    assert "iter 1 cand 1: 285 ± 5 over 2 seeds (screening 300)" in text
    assert "chosen by: the top 2 candidates by screening fitness" in text
    assert ("note: 2 LLM text(s) replayed by position from a recorded session: written for the "
            "recorded run's numbers, not this run's: analysis of iteration 0, critic review of "
            "iteration 1 candidate 0") in text  # fmt: skip
    assert "fitness: one training seed each" in text


@pytest.mark.parametrize(("position", "expected"), [
    (0, "replay: 17 answers for identical prompts, 0 by position LLM:"),
    (3, "replay: 17 answers for identical prompts, 3 by position (same templates and task, "
        "other training numbers)"),
])  # fmt: skip
def test_the_replay_line_explains_answers_by_position_only_when_there_are_some(
    tmp_path: Path, position: int, expected: str
) -> None:
    run = make_run(tmp_path)
    result = LoopResult.model_validate(
        json.loads((run / "result.json").read_text())
        | {"replayed": {"exact": 17, "position": position}}
    )
    console = Console(width=200, record=True)
    print_run_summary(console, str(run), result)
    assert expected in " ".join(console.export_text().split())


def _manual_wait(n: int, folder: str = "/runs/r/llm/manual") -> dict:
    return {"event": "manual_wait", "prompt": n, "role": "designer",
            "prompt_path": f"{folder}/prompt_{n}.md", "answer_path": f"{folder}/answer_{n}.md"}  # fmt: skip


def test_pending_manual_prompts_are_listed_until_answered() -> None:
    view = RunView(env_id="CartPole-v1", task="balance", model="manual", iterations=1)
    view.update(_manual_wait(1))
    view.update(_manual_wait(2))
    text = render(view)
    assert "waiting for you (--model manual): 2 prompts to answer" in text
    assert "prompt 1 (designer) /runs/r/llm/manual/prompt_1.md" in text
    assert "prompt 2 (designer) /runs/r/llm/manual/prompt_2.md" in text
    view.update({"event": "manual_answered", "prompt": 1, "role": "designer"})
    text = render(view)
    assert "1 prompt to answer" in text and "prompt_1.md" not in text


def test_live_view_keeps_the_clock_running_and_prints_manual_instructions_above_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a terminal the panel is re-rendered on every refresh (not frozen at the last event),
    and a manual prompt's instructions are printed once, above the live panel."""
    import io

    from autoreward import ui
    from autoreward.ui import LiveRunView

    now = [1000.0]
    monkeypatch.setattr(ui.time, "time", lambda: now[0])
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, color_system=None)
    view = RunView(
        env_id="CartPole-v1", task="balance", model="manual", iterations=1, started=now[0]
    )
    with LiveRunView(view, console) as live:
        assert live._live is not None
        live(_manual_wait(3))
        now[0] += 42
        live._live.refresh()
    text = out.getvalue()
    assert "manual prompt 3 (designer) is waiting for your answer:" in text
    assert "1. open /runs/r/llm/manual/prompt_3.md" in text
    assert (
        "save the model's whole answer, unedited, as\n     /runs/r/llm/manual/answer_3.md\n" in text
    )
    assert "elapsed 42s" in text  # the clock moved without any new event


def test_steps_past_the_budget_show_the_true_count() -> None:
    from autoreward.ui import steps_text

    assert steps_text(512, 4096) == "512/4,096"
    assert steps_text(768, 750) == "768 (budget 750)"
    assert steps_text(0, 0) == ""


def test_one_seed_has_no_spread() -> None:
    from autoreward.ui import seeds_text

    assert seeds_text(0.8956, 0.0, 1) == "0.8956 over 1 seed"
    assert seeds_text(0.81, 0.05, 3) == "0.81 ± 0.05 over 3 seeds"


@pytest.mark.parametrize(("deterministic", "text"), [(True, "deterministic evaluation"),
                                                    (False, "evaluation with sampled actions")])  # fmt: skip
def test_the_run_summary_says_how_the_policies_were_evaluated(
    tmp_path: Path, deterministic: bool, text: str
) -> None:
    run = RunDir.create(tmp_path, "Crafter-v1", "collect wood", {})
    cand = run.cand_dir(0, 0)
    cand.mkdir(parents=True)
    job = {"schema_data": {"train": {"deterministic_eval": deterministic}}}
    (cand / "job.json").write_text(json.dumps(job))
    record = CandidateRecord(iteration=0, index=0, status="trained", fitness=0.5)
    assert evaluation_kind(run, [record]) == text
