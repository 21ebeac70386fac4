"""`autoreward refine`: the display, feedback and ranking input, what is saved, and a scripted
terminal session against the fake LLM server whose next designer prompt carries the feedback."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fakellm import MODEL, FakeLLMServer, load_answer, prompt_text
from rich.console import Console
from runfakes import defer_analysis, make_run, mark_replayed
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.errors import ConfigError
from autoreward.loop.refine import parse_ranking, refine_session
from autoreward.loop.refine_view import show_state, sparkline
from autoreward.report.data import load_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path)


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, force_terminal=False, color_system=None), out


def _asker(*answers: str) -> tuple[Callable[[str], str], list[str]]:
    """Answers in order, then EOF (as a closed stdin); records the prompts."""
    queue = list(answers)
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    return ask, prompts


class _FakeResume:
    """Stands in for `run --resume`: records the call and marks the new iterations done."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, run_dir: Path, iterations: int) -> None:
        self.calls.append(iterations)
        for i in range(iterations):
            done = run_dir / f"iter_{i}" / "done.json"
            done.parent.mkdir(parents=True, exist_ok=True)
            if not done.exists():
                done.write_text("{}")


# --------------------------------------------------------------------------- pieces


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, None, 3.0]) == "▁ █"
    assert sparkline([2.0, 2.0]) == "▄▄"
    assert sparkline([None, float("nan")]) == ""


def test_parse_ranking_checks_every_index(run_dir: Path) -> None:
    it1 = load_run(run_dir).iterations[1]  # 0 and 1 trained, 2 a duplicate
    assert parse_ranking("1,0", it1) == [1, 0]
    assert parse_ranking(" 1 > 0 ", it1) == [1, 0]
    assert parse_ranking("0", it1) == [0]
    with pytest.raises(ConfigError, match="iteration 1 has no candidate 7") as err:
        parse_ranking("1,7", it1)
    assert err.value.hint == "rank among iteration 1's trained candidates: 0, 1"
    with pytest.raises(
        ConfigError, match=r"candidate 2 of iteration 1 has no trained policy \(duplicate\)"
    ):
        parse_ranking("2,0", it1)
    with pytest.raises(ConfigError, match="candidate 0 appears twice in the ranking"):
        parse_ranking("0,1,0", it1)
    with pytest.raises(ConfigError, match="'b' in the ranking is not a candidate number"):
        parse_ranking("1,b", it1)


def test_show_state_prints_the_best_reward_and_its_statistics(run_dir: Path) -> None:
    view = load_run(run_dir)
    console, out = _console()
    show_state(console, view, view.iterations[-1])
    text = out.getvalue()
    assert "best reward so far: iteration 1, candidate 0" in text
    assert "fitness 470 ± 12.5 over 2 seeds (fresh training seeds; screening 480)" in text
    assert "env return 480  steps 4,000" in text
    # the sparklines' caption says what the checkpoint fitness measures against the headline
    assert "deterministic evaluation over 3 episodes at each checkpoint" in " ".join(text.split())
    assert 'x = next_state["cart_position"]' in text  # the code
    assert "▁▂▃▃▄▅▆▆▇█" in text and "centred" in text  # component sparklines
    assert "The dense reward works; keep centred." in text  # analyzer summary
    assert "iteration 1: candidates" in text and "trained ★" in text and "duplicate" in text


def test_a_replayed_analysis_is_marked_every_time_it_is_shown(run_dir: Path) -> None:
    mark_replayed(run_dir, {"role": "analyzer", "meta": {"iteration": 1}})
    view = load_run(run_dir)
    console, out = _console()
    show_state(console, view, view.iterations[-1])
    text = " ".join(out.getvalue().split())
    assert "analyzer, iteration 1 (replayed by position)" in text
    assert "note: this analysis was replayed by position from a recorded session" in text
    assert "1 LLM text(s) replayed by position" in text and "analysis of iteration 1" in text


# --------------------------------------------------------------------------- sessions (no LLM)


def test_interactive_turn_saves_feedback_and_runs_the_next_iteration(run_dir: Path) -> None:
    console, out = _console()
    ask, prompts = _asker("  keep the cart on the left half  ", "7", "2,0", "1,0")
    resume = _FakeResume()
    turns = refine_session(console, run_dir, ask=ask, run_next=resume)

    assert len(turns) == 1 and resume.calls == [3]  # iterations 0, 1 done → run up to 3
    text = out.getvalue()
    assert "iteration 1 has no candidate 7" in text
    assert "candidate 2 of iteration 1 has no trained policy (duplicate)" in text
    assert sum("Rank iteration 1's candidates best first" in p for p in prompts) == 3
    saved = json.loads((run_dir / "iter_1" / "feedback.json").read_text())
    assert saved["text"] == "keep the cart on the left half"
    assert saved["ranking"] == [1, 0]
    ranking = saved["ranking_text"]
    assert (
        "1. candidate 1 (fitness 300, env return 300)\n2. candidate 0 (fitness 480, env return 480)"
        in ranking
    )
    assert "The user's first choice, candidate 1, is not the reward shown above" in ranking
    assert "-1.0 * (x / 2.4) ** 2" in ranking  # its code, since the designer was not shown it
    lines = (run_dir / "refine.jsonl").read_text().splitlines()
    assert [json.loads(x)["turn"] for x in lines] == [1]
    # The second turn showed iteration 2 and ended at EOF (a closed stdin) without saving.
    assert "refine session ended." in text and not (run_dir / "iter_2" / "feedback.json").exists()
    assert any(
        e["event"] == "feedback"
        for e in (json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines())
    )


def test_quit_saves_nothing(run_dir: Path) -> None:
    console, _ = _console()
    resume = _FakeResume()
    ask, _ = _asker("q")
    assert refine_session(console, run_dir, ask=ask, run_next=resume) == []
    ask, _ = _asker("good so far", "quit")
    assert refine_session(console, run_dir, ask=ask, run_next=resume) == []
    assert resume.calls == [] and not (run_dir / "iter_1" / "feedback.json").exists()


def test_empty_answers_still_run_the_next_iteration(run_dir: Path) -> None:
    console, out = _console()
    resume = _FakeResume()
    ask, _ = _asker("", "")
    turns = refine_session(
        console, run_dir, ask=ask, run_next=resume, max_turns=1, iterations_per_turn=2
    )
    assert resume.calls == [4] and turns[0].empty
    assert json.loads((run_dir / "iter_1" / "feedback.json").read_text())["ranking_text"] is None
    assert (
        "(no feedback given)" in out.getvalue()
        and "after 1 turn(s) (--max-turns)" in out.getvalue()
    )


def test_scripted_turn_asks_nothing(run_dir: Path) -> None:
    console, _ = _console()
    resume = _FakeResume()

    def never(prompt: str) -> str:
        raise AssertionError(f"asked {prompt!r}")

    turns = refine_session(
        console, run_dir, feedback="go left", rank="1", ask=never, run_next=resume
    )
    assert len(turns) == 1 and resume.calls == [3]
    saved = json.loads((run_dir / "iter_1" / "feedback.json").read_text())
    assert saved["text"] == "go left" and saved["ranking"] == [1]


def test_a_loop_that_runs_nothing_ends_the_session(run_dir: Path) -> None:
    console, out = _console()
    ask, _ = _asker("more", "")
    turns = refine_session(console, run_dir, ask=ask, run_next=lambda path, n: None)
    assert len(turns) == 1 and "the loop ran no new iteration" in out.getvalue()


def test_a_deferred_analysis_is_written_for_the_person_first(run_dir: Path) -> None:
    defer_analysis(run_dir, 1)
    written: list[int] = []

    def analyze(path: Path, iteration: int) -> bool:
        written.append(iteration)
        (path / f"iter_{iteration}" / "analysis.md").write_text(
            "## Failure causes\n\n- late analysis\n"
        )
        return True

    console, out = _console()
    refine_session(console, run_dir, feedback="go left", run_next=_FakeResume(), analyze=analyze)
    assert written == [1] and "late analysis" in out.getvalue()


@pytest.mark.expensive
def test_the_default_deferred_analysis_asks_the_runs_own_model(
    fake_llm: FakeLLMServer, run_dir: Path
) -> None:
    import yaml

    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    (run_dir / "config.yaml").write_text(yaml.safe_dump({**cfg, "api_base": fake_llm.url + "/v1"}))
    defer_analysis(run_dir, 1)
    fake_llm.add_rule("# Your analysis", load_answer("analyzer_cartpole_balance"), repeat_last=True)
    console, out = _console()
    refine_session(console, run_dir, feedback="go left", run_next=_FakeResume())
    assert "analyzing iteration 1" in out.getvalue()
    analysis = (run_dir / "iter_1" / "analysis.md").read_text()
    assert analysis == load_answer("analyzer_cartpole_balance").strip() + "\n"
    [prompt] = [prompt_text(r.body) for r in fake_llm.chat_requests]
    assert (
        "# Every trained candidate, compactly" in prompt
        and "# The worst candidate, in full" in prompt
    )
    assert prompt.count("iteration 1, candidate 0: status trained") == 1
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    assert {
        "event": "analysis",
        "iteration": 1,
        "deferred": True,
        "written": True,
        "by": "refine",
    }.items() <= {k: v for e in events if e["event"] == "analysis" for k, v in e.items()}.items()


def test_unfinished_runs_are_refused(run_dir: Path) -> None:
    (run_dir / "iter_2" / "cand_0").mkdir(parents=True)
    with pytest.raises(ConfigError, match="iteration 2 of .* was started but never finished"):
        refine_session(_console()[0], run_dir, ask=_asker()[0], run_next=_FakeResume())
    empty = run_dir.parent / "empty"
    empty.mkdir()
    (empty / "config.yaml").write_text("env_id: CartPole-v1\ntask: x\n")
    with pytest.raises(ConfigError, match="has no finished iteration to give feedback on"):
        refine_session(_console()[0], empty, ask=_asker()[0], run_next=_FakeResume())


def test_cli_refuses_a_bad_rank_before_any_work(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["refine", str(run_dir), "--rank", "1,9"])
    assert result.exit_code == 2
    assert "iteration 1 has no candidate 9" in " ".join(result.output.split())
    assert not (run_dir / "iter_1" / "feedback.json").exists()


# --------------------------------------------------------------------------- end to end

TASK = "Balance the pole upright and keep the cart near the centre of the track."
INITIAL = "# Advice"
REFINE = "# The best reward so far"
ANALYZER = "diagnoses trained policies"


@pytest.mark.expensive
def test_scripted_terminal_session_reaches_the_designer(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    """A real run (fake LLM server, real sandbox and PPO on CartPole), then `autoreward refine`
    driven through stdin: the next designer prompt carries the person's text and ranking."""
    from autoreward.config import RunConfig
    from autoreward.loop import run_loop
    from autoreward.store.rundir import RunDir

    fake_llm.add_rule(ANALYZER, load_answer("analyzer_cartpole"), repeat_last=True)
    fake_llm.add_rule(REFINE, load_answer("designer_cartpole_refine"), repeat_last=True)
    fake_llm.add_rule(INITIAL, load_answer("designer_cartpole_1"), load_answer("designer_cartpole_2"),
                      repeat_last=True)  # fmt: skip
    cfg = RunConfig(
        env_id="CartPole-v1",
        task=TASK,
        model=MODEL,
        api_base=fake_llm.url + "/v1",
        iterations=1,
        samples=2,
        steps=2048,
        workers=2,
        eval_episodes=2,
        final_seeds=0,
        video=False,
        critic=False,
        halving=False,
    )
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    run_loop(cfg, run)
    assert (run.iter_dir(0) / "done.json").exists()
    trained = [
        j
        for j in (0, 1)
        if json.loads((run.cand_dir(0, j) / "candidate.json").read_text())["status"] == "trained"
    ]
    assert trained == [0, 1]

    session = "Please keep the cart in the left half of the track.\n5\n1,0\n"
    result = CliRunner().invoke(app, ["refine", str(run.path), "--max-turns", "1"], input=session)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "iteration 0 has no candidate 5" in output
    assert "best reward so far: iteration 0" in output

    saved = json.loads((run.iter_dir(0) / "feedback.json").read_text())
    assert saved["text"] == "Please keep the cart in the left half of the track." and saved[
        "ranking"
    ] == [1, 0]
    assert (run.iter_dir(1) / "done.json").exists()
    refine_prompts = [
        t for t in (prompt_text(r.body) for r in fake_llm.chat_requests) if REFINE in t
    ]
    assert refine_prompts, "the second iteration's designer was not asked"
    prompt = refine_prompts[0]
    assert "Please keep the cart in the left half of the track." in prompt
    assert "ranked its candidates, best first" in prompt and "1. candidate 1 (fitness" in prompt
    # the same prompt is on disk with the run's LLM log, and the report shows the turn
    logged = "\n".join(p.read_text() for p in run.llm_dir.glob("*designer*.prompt.md"))
    assert "Please keep the cart in the left half of the track." in logged
    assert "Human feedback after this iteration" in (run.path / "report.html").read_text()


# --------------------------------------------------------------------------- continuing a run


def test_feedback_saved_before_a_failed_iteration_is_not_asked_again(run_dir: Path) -> None:
    console, out = _console()
    ask, prompts = _asker("go left", "")

    def fails(path: Path, n: int) -> None:
        raise ConfigError("the model went away")

    with pytest.raises(ConfigError, match="the model went away"):
        refine_session(console, run_dir, ask=ask, run_next=fails, max_turns=1)
    assert json.loads((run_dir / "iter_1" / "feedback.json").read_text())["text"] == "go left"
    asked = len(prompts)

    resume = _FakeResume()
    turns = refine_session(console, run_dir, ask=_asker()[0], run_next=resume, max_turns=1)
    assert len(prompts) == asked  # nothing asked the second time
    assert [t.text for t in turns] == ["go left"] and resume.calls == [3]
    assert "using the feedback you gave before" in " ".join(out.getvalue().split())
    lines = (run_dir / "refine.jsonl").read_text().splitlines()
    assert len(lines) == 1  # the turn is saved once


def test_a_replayed_run_without_answers_for_the_next_iteration_fails_before_asking(
    run_dir: Path,
) -> None:
    """A recording cannot answer prompts carrying new feedback: say so, and what to pass."""
    config = run_dir / "config.yaml"
    transcript = (
        Path(__file__).resolve().parents[1] / "examples/cartpole-left-half/transcript.jsonl"
    )
    config.write_text(
        config.read_text().replace("model: openai/fake-model", f"model: replay:{transcript}")
    )
    result = CliRunner().invoke(app, ["refine", str(run_dir)], input="never read\n")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "holds no designer answers for iteration 2" in text
    assert "--model gpt-4o-mini" in text and "--model manual" in text
    assert "Feedback for the designer" not in result.output
    assert not (run_dir / "iter_1" / "feedback.json").exists()


def test_refine_model_option_reaches_the_resumed_run(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoreward.loop import commands

    seen: list[tuple[dict, set]] = []
    monkeypatch.setattr(
        commands,
        "run_command",
        lambda console, options, *, given, **kw: seen.append((options, given)),
    )
    result = CliRunner().invoke(
        app, ["refine", str(run_dir), "--model", "manual", "--feedback", "left"]
    )
    assert result.exit_code == 0, result.output
    assert seen and seen[0][0]["model"] == "manual" and "model" in seen[0][1]


def test_piped_refine_keeps_the_task_and_the_video_path_whole(tmp_path: Path) -> None:
    from autoreward.output import CliConsole

    run_dir = make_run(tmp_path / ("a-long-folder-name-" * 4))
    best = load_run(run_dir).best
    assert best is not None
    (best.folder / "video.mp4").write_bytes(b"\x00" * 64)
    view = load_run(run_dir)
    assert view.best is not None and view.best.video is not None
    out = io.StringIO()
    show_state(CliConsole(file=out, width=80), view, view.iterations[-1])
    lines = out.getvalue().splitlines()
    assert view.task in lines
    assert f"video of the best: {view.best.video}" in lines
    assert "…" not in out.getvalue()
