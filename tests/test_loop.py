"""The loop end to end against a local OpenAI-compatible server: real LLM client path, real
sandboxed checks, real PPO training on CartPole-v1 (tiny budget), and a real kill + resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakellm import MODEL, FakeLLMServer, load_answer, prompt_text

from autoreward.config import RunConfig
from autoreward.loop import run_loop
from autoreward.store.rundir import RunDir

TASK = "Balance the pole upright and keep the cart near the centre of the track."

# Phrases that tell the prompts apart (from prompts/*.md).
INITIAL = "# Advice"
REFINE = "# The best reward so far"
REPAIR = "was rejected before training"
REVISE = "was sent back before training"
CRITIC = "careful reviewer"
ANALYZER = "diagnoses trained policies"


def script(server: FakeLLMServer, *, critic_revise: bool = True) -> None:
    """Iteration 0: one good answer and one broken (syntax error) that the repair fixes; the
    critic sends one back once. Iteration 1: a refined reward and an exact duplicate."""
    server.add_rule(REPAIR, load_answer("repair_cartpole"), repeat_last=True)
    server.add_rule(REVISE, load_answer("revise_cartpole"), repeat_last=True)

    def critic(body: dict) -> str:
        # Send back the repaired candidate (its terms are `balance` and `centre`), whichever
        # order the concurrent calls arrive in; pass every other reward.
        reviewed_repaired = '"balance"' in prompt_text(body)
        return load_answer("critic_revise" if critic_revise and reviewed_repaired else "critic_ok")

    server.add_rule(CRITIC, critic, repeat_last=True)
    server.add_rule(ANALYZER, load_answer("analyzer_cartpole_balance"), repeat_last=True)
    server.add_rule(REFINE, load_answer("designer_cartpole_refine"), load_answer("designer_cartpole_duplicate"),
                    repeat_last=True)  # fmt: skip
    server.add_rule(INITIAL, load_answer("designer_cartpole_1"), load_answer("designer_cartpole_syntax_error"),
                    repeat_last=True)  # fmt: skip


def config(server: FakeLLMServer, **over: object) -> RunConfig:
    base = dict(
        env_id="CartPole-v1", task=TASK, model=MODEL, api_base=server.url + "/v1",
        iterations=2, samples=2, steps=4096, workers=2, eval_episodes=3, final_seeds=1,
        video=False, target_fitness=2.0,  # unreachable (fitness <= 1): both iterations run
    )  # fmt: skip
    base.update(over)
    return RunConfig.model_validate(base)


@pytest.mark.expensive
def test_two_iterations_select_the_best_and_write_every_file(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    script(fake_llm)
    cfg = config(fake_llm)
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    events: list[dict] = []
    result = run_loop(cfg, run, on_event=events.append)

    recs = run.candidate_records()
    assert {r.iteration for r in recs} == {0, 1}
    # The broken candidate was repaired, so iteration 0 trained both (halving kept one).
    it0 = [r for r in recs if r.iteration == 0]
    assert sorted(r.status for r in it0) == ["pruned", "trained"]
    proposals = json.loads((run.iter_dir(0) / "proposals.json").read_text())
    assert sum(p["n_repairs"] for p in proposals) == 1
    # Iteration 1 proposed an exact duplicate of an earlier reward: dropped before training.
    assert "duplicate" in [r.status for r in recs if r.iteration == 1]
    # The critic sent one candidate back once.
    assert sum("critic" in r.revised for r in recs) == 1

    trained = [r for r in recs if r.status == "trained"]
    assert result.best is not None
    # The best is chosen by its mean over fresh seeds among the top two by single-seed fitness.
    final = json.loads((run.best_dir / "final.json").read_text())
    top = sorted(trained, key=lambda r: r.fitness, reverse=True)[:2]
    assert [(c["iteration"], c["index"]) for c in final["candidates"]] == [
        (r.iteration, r.index) for r in top
    ]
    assert all(c["n_seeds"] == 1 and c["mean"] is not None for c in final["candidates"])
    chosen = max(final["candidates"], key=lambda c: (c["mean"], c["screening_fitness"]))
    assert (result.best.iteration, result.best.index) == (chosen["iteration"], chosen["index"])
    assert (final["iteration"], final["index"], final["mean"]) == (
        chosen["iteration"],
        chosen["index"],
        chosen["mean"],
    )
    assert final["changed_best"] == (
        (chosen["iteration"], chosen["index"]) != (top[0].iteration, top[0].index)
    )
    assert (run.best_dir / "reward.py").read_text() == (
        run.cand_dir(result.best.iteration, result.best.index) / "reward.py"
    ).read_text()

    best_dir = run.cand_dir(result.best.iteration, result.best.index)
    for name in ["reward.py", "check.json", "critique.json", "train.json", "eval.json", "stats.json",
                 "trajectories.json", "policy.npz", "episodes.npz", "candidate.json"]:  # fmt: skip
        assert (best_dir / name).exists(), name
    assert (run.iter_dir(0) / "analysis.md").exists()
    # No analyzer call after the last iteration: no designer would read it.
    assert not (run.iter_dir(1) / "analysis.md").exists()
    assert json.loads((run.iter_dir(1) / "done.json").read_text())["analysis"] == "deferred"
    # Every screened candidate's screen.json says so (no more "failed_check" with no reason).
    for d in run.path.glob("iter_*/cand_*/screen.json"):
        assert json.loads(d.read_text())["status"] == "screened"
    calls = [json.loads(x) for x in (run.llm_dir / "calls.jsonl").read_text().splitlines()]
    assert {c["role"] for c in calls} >= {"designer", "repair", "critic", "revise", "analyzer"}
    assert [c["meta"]["iteration"] for c in calls if c["role"] == "analyzer"] == [0]
    # The revised candidate was reviewed once more; critic calls are sample 0 of their prompts.
    reviews = [c for c in calls if c["role"] == "critic"]
    assert {c["sample_index"] for c in reviews} == {0}
    revised = [r for r in recs if "critic" in r.revised]
    assert revised and all(r.critic_reviews == 2 for r in revised)
    critique = json.loads(
        (run.cand_dir(revised[0].iteration, revised[0].index) / "critique.json").read_text()
    )
    assert not critique["ok"] and len(critique["reviews"]) == 2 and "after_revision" in critique
    assert any(c["meta"].get("attempt") == 1 for c in reviews)
    # The refine prompt carried the analyzer's findings and the best fitness.
    refine_prompts = [
        t for t in (prompt_text(r.body) for r in fake_llm.chat_requests) if REFINE in t
    ]
    assert refine_prompts and "Failure causes" in refine_prompts[0]
    assert "## Training" in refine_prompts[0] and "- gamma = 0.98 (discount)" in refine_prompts[0]
    assert "## Every trained candidate of the last iteration" in refine_prompts[0]
    # two selection seeds: the best fitness is their mean, and the spread shown is one seed's
    assert "the mean of 2 training seeds (" in refine_prompts[0]
    assert "the evaluation details shown are the first seed's" in refine_prompts[0]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and "best" in kinds
    assert result.tokens > 0


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "autoreward.cli", "run", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


@pytest.mark.expensive
def test_killed_run_resumes_without_retraining_or_repaying(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    script(fake_llm, critic_revise=False)
    env = {**os.environ, "OPENAI_API_KEY": "sk-fake"}
    args = ["--env", "CartPole-v1", "--task", TASK, "--model", MODEL, "--api-base", fake_llm.url + "/v1",
            "--iterations", "2", "--samples", "2", "--steps", "4096", "--workers", "2",
            "--eval-episodes", "3", "--final-seeds", "0", "--no-video", "--no-report", "--target", "2",
            "--out", str(tmp_path)]  # fmt: skip
    proc = _cli(args, env)
    # Kill the whole process tree as soon as the first candidate of iteration 0 has finished
    # training (before the iteration is done).
    deadline = time.time() + 300
    run_dir = None
    while time.time() < deadline and proc.poll() is None:
        dirs = [d for d in tmp_path.iterdir() if d.is_dir()]
        if dirs:
            run_dir = dirs[0]
            jobs = list((run_dir / "iter_0").glob("cand_*/jobs/*.json"))
            if jobs:
                break
        time.sleep(0.2)
    assert run_dir is not None and proc.poll() is None, (
        proc.stdout.read().decode() if proc.stdout else ""
    )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = {p: p.stat().st_mtime_ns for p in run_dir.glob("iter_0/cand_*/jobs/*.json")}
    assert finished_before
    assert not (run_dir / "iter_0" / "done.json").exists()
    prompts_before = [prompt_text(r.body) for r in fake_llm.chat_requests]

    resumed = _cli(["--resume", str(run_dir), "--no-report"], env)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out.decode()

    # No finished job ran again: its result file is untouched.
    for path, mtime in finished_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was retrained"
    # No cached LLM call was paid for again.
    prompts_after = [prompt_text(r.body) for r in fake_llm.chat_requests][len(prompts_before) :]
    assert not set(prompts_after) & set(prompts_before)
    run = RunDir(run_dir)
    assert (run.iter_dir(1) / "done.json").exists()
    assert (run.best_dir / "reward.py").exists()
    assert any(e["event"] == "run_end" for e in run.events())
    [stop] = [e for e in run.events() if e["event"] == "run_stop"]
    assert stop["reason"] == "iterations" and stop["text"].startswith("all 2 iterations ran; best")


@pytest.mark.expensive
def test_stops_early_once_the_target_fitness_is_reached(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    script(fake_llm, critic_revise=False)
    cfg = config(fake_llm, target_fitness=0.0, samples=1, final_seeds=0, steps=2048)
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    result = run_loop(cfg, run)
    assert result.target_reached and result.iterations_run == 1
    assert run.iterations() == [0]
    [stop] = [e for e in run.events() if e["event"] == "run_stop"]
    assert stop["reason"] == "target" and (stop["iteration"], stop["candidate"]) == (0, 0)
    assert stop["text"].startswith("target 0 reached by iteration 0 candidate 0 at fitness ")
    # Resumed, it stops at once but still counts the earlier session's iteration and wall time.
    again = run_loop(cfg, run)
    assert again.target_reached and again.iterations_run == 1
    assert again.wall_s >= result.wall_s


@pytest.mark.expensive
def test_ctrl_c_stops_training_workers_and_records_no_false_failure(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    script(fake_llm, critic_revise=False)
    env = {**os.environ, "OPENAI_API_KEY": "sk-fake"}
    args = ["--env", "CartPole-v1", "--task", TASK, "--model", MODEL, "--api-base", fake_llm.url + "/v1",
            "--iterations", "1", "--samples", "2", "--steps", "200000", "--no-halving", "--workers", "2",
            "--final-seeds", "0", "--no-video", "--no-report", "--out", str(tmp_path)]  # fmt: skip
    proc = _cli(args, env)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("*/iter_0/cand_*/train/progress.json")):
        time.sleep(0.2)
    assert list(tmp_path.glob("*/iter_0/cand_*/train/progress.json")), "training never started"
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)  # not the ~3 minutes the 200k-step jobs would take
    text = out.decode()
    assert proc.returncode == 130, text
    assert "autoreward run --resume" in text
    assert not list(tmp_path.glob("*/iter_0/cand_*/jobs/*.json")), "an interrupted job was recorded"
    # this venv's workers only: other checkouts on the same machine may be training right now
    mine = f"^{re.escape(sys.executable)} .*-m autoreward[.]sandbox[.]child"
    workers = subprocess.run(["pgrep", "-f", mine], capture_output=True, text=True)
    assert workers.stdout.strip() == ""


@pytest.mark.expensive
def test_the_last_iterations_analysis_is_written_when_a_resumed_run_needs_it(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.add_rule(ANALYZER, load_answer("analyzer_cartpole_balance"), repeat_last=True)
    fake_llm.add_rule(REFINE, load_answer("designer_cartpole_refine"), repeat_last=True)
    fake_llm.add_rule(INITIAL, load_answer("designer_cartpole_1"), repeat_last=True)
    cfg = config(
        fake_llm, iterations=1, samples=1, steps=2048, final_seeds=0, critic=False, workers=1
    )
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    events: list[dict] = []
    run_loop(cfg, run, on_event=events.append)
    assert not any(r.body and ANALYZER in prompt_text(r.body) for r in fake_llm.chat_requests)
    assert [e["iteration"] for e in events if e["event"] == "analysis_skipped"] == [0]

    run_loop(cfg.model_copy(update={"iterations": 2}), run)
    prompts = [prompt_text(r.body) for r in fake_llm.chat_requests]
    kinds = [
        "analyzer" if ANALYZER in p else "refine" if REFINE in p else "initial" for p in prompts
    ]
    assert kinds == ["initial", "analyzer", "refine"], (
        "analysis first, then the designer that reads it"
    )
    assert "Failure causes" in prompts[2]
    assert (run.iter_dir(0) / "analysis.md").exists() and not (
        run.iter_dir(1) / "analysis.md"
    ).exists()


RETRY = "# Earlier attempts: every one failed"


@pytest.mark.expensive
def test_after_an_iteration_whose_candidates_all_failed_the_designer_is_told_why(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    """Without a best reward the next iteration used to get the first prompt again, word for
    word: the designer never heard why every candidate failed."""
    fake_llm.add_rule(RETRY, load_answer("designer_cartpole_1"), repeat_last=True)
    fake_llm.add_rule(REPAIR, load_answer("designer_cartpole_no_code"), repeat_last=True)
    fake_llm.add_rule(INITIAL, load_answer("designer_cartpole_no_code"), repeat_last=True)
    cfg = config(fake_llm, samples=1, steps=1024, critic=False, final_seeds=0, halving=False,
                 selection_seeds=1, eval_episodes=2)  # fmt: skip
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    result = run_loop(cfg, run)
    [failed] = [r for r in run.candidate_records() if r.iteration == 0]
    assert failed.status == "failed_check" and failed.reason
    retries = [t for t in (prompt_text(r.body) for r in fake_llm.chat_requests) if RETRY in t]
    assert len(retries) == 1
    assert "## Iteration 0, candidate 0: no valid code after the repairs" in retries[0]
    assert failed.reason.splitlines()[0] in retries[0]
    assert result.best is not None and result.best.iteration == 1
