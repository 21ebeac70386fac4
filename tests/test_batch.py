"""Batch runs: normalized-score math, the shared pool, the results table, the random policy,
and a real batch end to end against the local fake LLM server (tiny CartPole budgets)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakellm import MODEL, FakeLLMServer, load_answer
from typer.testing import CliRunner

from autoreward.batch import (
    BatchDir,
    SharedPool,
    TaskRow,
    normalized_score,
    random_policy_fitness,
    results_csv,
    results_markdown,
    run_batch,
    write_results,
)
from autoreward.batch.suites import Suite, load_suite, task_schema
from autoreward.cli import app
from autoreward.errors import ConfigError, LLMError
from autoreward.train.job import TrainJob, TrainResult

INITIAL = "# Advice"  # the designer's first-iteration prompt (prompts/designer_*.md)
REPAIR = "was rejected before training"
ANALYZER = "diagnoses trained policies"


# --------------------------------------------------------------------------- scoring


def test_normalized_score_math() -> None:
    assert normalized_score(0.8, 0.5, 0.1)[0] == pytest.approx(1.75)
    assert normalized_score(0.1, 0.5, 0.1)[0] == pytest.approx(0.0)
    assert normalized_score(0.5, 0.5, 0.1)[0] == pytest.approx(1.0)
    assert normalized_score(-0.9, -0.2, -1.0)[0] == pytest.approx(0.125)  # Acrobot-like negatives
    assert normalized_score(0.0, 0.5, 0.1) == (pytest.approx(-0.25), "")
    # a small baseline well clear of random still normalizes
    assert normalized_score(0.1, 0.05, 0.0)[0] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("ours", "baseline", "random", "note"),
    [
        (0.7, 0.2, 0.2, "scores the same as random"),
        (0.7, 0.2 + 1e-9, 0.2, "scores the same as random"),
        (0.7, -0.5, 0.1, "below random"),
        (None, 0.5, 0.1, "no fitness for our reward"),
        (0.7, None, 0.1, "no env-reward baseline"),
        (0.7, 0.5, None, "no random-policy fitness"),
        # the held-out case: a sparse baseline of 0.0007 against random 0.0 gave 145.46
        (0.1018, 0.0007, 0.0, "degenerate: 0.0007 is within noise of random (0;"),
        (1.0, 0.05, 0.04, "degenerate"),
    ],
)
def test_normalized_score_is_none_with_a_reason(
    ours: float | None, baseline: float | None, random: float | None, note: str
) -> None:
    value, why = normalized_score(ours, baseline, random)
    assert value is None and note in why


def test_row_uses_the_final_seed_mean_when_there_is_one() -> None:
    assert TaskRow(task="a", env_id="E", best_fitness=0.9).ours == 0.9
    assert TaskRow(task="a", env_id="E", best_fitness=0.9, final_fitness=0.7).ours == 0.7


def test_random_policy_fitness_on_cartpole() -> None:
    schema = task_schema(load_suite("classic").task("cartpole-balance"))
    out = random_policy_fitness(schema, episodes=6, seed=3)
    # The fitness counts 1/500 per step alive, so it is the mean episode length / 500.
    assert out["fitness"] == pytest.approx(out["length_mean"] / 500.0)
    assert 0.0 < out["fitness"] < 0.2  # a random policy drops the pole within ~20-40 steps
    assert random_policy_fitness(schema, episodes=6, seed=3)["fitness"] == out["fitness"]


# --------------------------------------------------------------------------- the shared pool


class _CountingExecutor:
    """Records how many jobs run at once; two must overlap (the barrier) for any to finish."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.barrier = threading.Barrier(2, timeout=20)

    def map(
        self, jobs: list[TrainJob], on_result: Any = None, on_progress: Any = None
    ) -> list[TrainResult]:
        assert len(jobs) == 1
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            self.barrier.wait()
            time.sleep(0.01)
        finally:
            with self.lock:
                self.now -= 1
        result = TrainResult(status="ok", label=jobs[0].label, fitness=float(jobs[0].seed))
        if on_progress is not None:
            on_progress(0, {"steps": 1})
        if on_result is not None:
            on_result(0, result)
        return [result]


def test_shared_pool_caps_jobs_across_tasks(tmp_path: Path) -> None:
    inner = _CountingExecutor()
    pool = SharedPool(inner, slots=2)
    outputs: dict[str, list[float | None]] = {}
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def task(name: str, seeds: list[int]) -> None:
        jobs = [TrainJob(env_id="CartPole-v1", out_dir=str(tmp_path / name / str(s)), seed=s, label=f"{name}{s}")
                for s in seeds]  # fmt: skip
        results = pool.for_task(name).map(jobs, on_result=lambda i, r: seen[name].append(i))
        outputs[name] = [r.fitness for r in results]

    threads = [
        threading.Thread(target=task, args=("a", [1, 2, 3])),
        threading.Thread(target=task, args=("b", [4, 5, 6])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.peak == 2  # never more than the pool's slots, whichever task submitted
    assert outputs == {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}  # results in job order
    assert sorted(seen["a"]) == [0, 1, 2] and sorted(seen["b"]) == [0, 1, 2]  # indices per task
    assert pool.running == {"a": 0, "b": 0} and pool.queued == {"a": 0, "b": 0}


# --------------------------------------------------------------------------- results


ROWS = [
    TaskRow(task="good", env_id="CartPole-v1", status="done", fitness_kind="score", best_fitness=0.9,
            final_fitness=0.8, final_std=0.05, final_seeds=3, target_reached=False,
            baseline_fitness=0.5, sparse_fitness=0.3, random_fitness=0.1, normalized=1.75,
            normalized_sparse=3.5, over_random=0.7,
            note="ours = final-seed mean", iterations=2, tokens=1234, cost=0.01, wall_s=75, run_dir="x"),
    TaskRow(task="bad", env_id="Nope-v0", status="failed", reason="unknown environment 'Nope-v0'"),
]  # fmt: skip


def test_results_csv_has_every_column() -> None:
    rows = list(csv.DictReader(io.StringIO(results_csv(ROWS))))
    assert rows[0]["task"] == "good" and float(rows[0]["normalized"]) == 1.75
    assert rows[1]["status"] == "failed" and rows[1]["best_fitness"] == ""
    assert rows[1]["reason"] == "unknown environment 'Nope-v0'"


def test_results_markdown_table_and_notes() -> None:
    md = results_markdown(
        Suite(name="demo", tasks=[{"name": "good", "env": "CartPole-v1", "task": "t"}]), ROWS
    )
    assert (
        "| good | CartPole-v1 | done | 0.900 | 0.800 ± 0.050 (3) | no | 0.500 | 0.300 | 0.100 "
        "| 1.75 | 3.50 | 0.700 | 2 | 1,234 | 0.0100 | 1m15s |" in md
    )
    assert "| bad | Nope-v0 | failed | – | – | – | – | – | – | – | – | – |" in md
    assert "- **bad**: unknown environment 'Nope-v0'" in md
    assert "against the env-reward baseline over 1 task(s): 1.75" in md
    assert "against the sparse-fitness baseline over 1 task(s): 3.50" in md
    assert "| normalized vs env reward | normalized vs sparse fitness | over random |" in md


def test_results_go_to_the_sqlite_index(tmp_path: Path) -> None:
    suite = Suite(name="demo", tasks=[{"name": "good", "env": "CartPole-v1", "task": "t"}])
    batch = BatchDir.create(tmp_path, suite, {})
    write_results(batch, suite, ROWS)
    write_results(batch, suite, ROWS)  # idempotent: one row per task
    with sqlite3.connect(batch.path / "index.sqlite") as db:
        got = db.execute(
            "SELECT task, status, normalized, normalized_sparse, final_fitness, final_std, note "
            "FROM batch_results ORDER BY task"
        ).fetchall()
    assert got == [
        ("bad", "failed", None, None, None, None, None),
        ("good", "done", 1.75, 3.5, 0.8, 0.05, "ours = final-seed mean"),
    ]


# --------------------------------------------------------------------------- end to end


def _suite_file(tmp_path: Path, **defaults: Any) -> Path:
    data = {
        "name": "tiny",
        "defaults": {"iterations": 1, "samples": 1, "steps": 2048, "n_envs": 4, "final_seeds": 0,
                     "eval_episodes": 2, "video": False, "critic": False, "halving": False,
                     "random_episodes": 3, **defaults},
        "tasks": [
            {"name": "centre", "env": "CartPole-v1", "task": "Balance the pole near the centre of the track.",
             "fitness": {"kind": "score", "expression": 'np.ones_like(next_state["pole_angle"]) / 500.0',
                         "target": 0.95, "description": "Fraction of 500 steps balanced."}},
            {"name": "left", "env": "CartPole-v1", "task": "Balance the pole in the left half of the track.",
             "fitness": {"kind": "score", "expression": '(next_state["cart_position"] < 0.0) / 500.0',
                         "target": 0.9, "description": "Fraction of 500 steps balanced left of centre."}},
            {"name": "broken", "env": "CartPole-v99", "task": "This env id does not exist."},
        ],
    }  # fmt: skip
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.expensive
def test_batch_end_to_end_reports_a_bad_task_and_resumes(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.add_rule(ANALYZER, load_answer("analyzer_cartpole"), repeat_last=True)
    fake_llm.add_rule(INITIAL, load_answer("designer_cartpole_1"), repeat_last=True)
    suite = load_suite(_suite_file(tmp_path), check_envs=False)
    events: list[dict[str, Any]] = []
    result = run_batch(
        suite, out=tmp_path / "runs", executor="local", workers=2, model=MODEL,
        api_base=fake_llm.url + "/v1", on_event=events.append,
    )  # fmt: skip

    rows = {r.task: r for r in result.rows}
    assert [r.task for r in result.rows] == ["centre", "left", "broken"]
    assert (
        rows["broken"].status == "failed"
        and "unknown environment 'CartPole-v99'" in rows["broken"].reason
    )
    for name in ["centre", "left"]:
        r = rows[name]
        assert r.status == "done", r.reason
        assert (
            r.best_fitness is not None
            and r.baseline_fitness is not None
            and r.random_fitness is not None
        )
        assert r.iterations == 1 and r.tokens > 0 and r.wall_s > 0
        expected, _ = normalized_score(r.best_fitness, r.baseline_fitness, r.random_fitness)
        assert r.normalized == expected
        assert r.sparse_fitness is not None, r.note
        expected, _ = normalized_score(r.best_fitness, r.sparse_fitness, r.random_fitness)
        assert r.normalized_sparse == expected
        assert r.over_random == pytest.approx(r.best_fitness - r.random_fitness)
    # Random CartPole: the "centre" fitness is the mean episode length / 500.
    random_centre = json.loads(
        (Path(result.batch_dir) / "reference" / "centre" / "random.json").read_text()
    )
    assert rows["centre"].random_fitness == pytest.approx(random_centre["length_mean"] / 500)

    batch = Path(result.batch_dir)
    assert batch.name.startswith("batch-") and batch.name.endswith("-tiny")
    for name in [
        "batch.yaml",
        "state.json",
        "results.md",
        "results.csv",
        "index.sqlite",
        "events.jsonl",
    ]:
        assert (batch / name).exists(), name
    for name in ["centre", "left"]:
        assert (batch / "tasks" / name / "best" / "reward.py").exists()
        assert (batch / "tasks" / name / "result.json").exists()
        baseline = json.loads((batch / "reference" / name / "baseline" / "train.json").read_text())
        assert baseline["status"] == "ok" and baseline["steps"] >= 2048
        sparse = json.loads((batch / "reference" / name / "sparse" / "train.json").read_text())
        assert sparse["status"] == "ok" and sparse["fitness"] == rows[name].sparse_fitness
        assert "compute_reward" in (batch / "reference" / name / "sparse_reward.py").read_text()
    # The baseline and the candidates trained on the task's fitness, not CartPole's own.
    eval_left = json.loads(
        next((batch / "tasks" / "left").glob("iter_0/cand_0/train.json")).read_text()
    )
    assert eval_left["fitness"] == rows["left"].best_fitness
    with sqlite3.connect(batch / "index.sqlite") as db:
        statuses = dict(db.execute("SELECT task, status FROM batch_results").fetchall())
    assert statuses == {"centre": "done", "left": "done", "broken": "failed"}
    assert "| broken | CartPole-v99 | failed |" in (batch / "results.md").read_text()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "batch_start" and kinds[-1] == "batch_end"
    assert {"task_state", "task_loop", "task_baseline"} <= set(kinds)

    # ---- resume: finished tasks are skipped (no LLM call, no training); the failed one retries
    calls_before = len(fake_llm.chat_requests)
    state_before = json.loads((batch / "state.json").read_text())
    again = run_batch(
        suite, resume=batch, executor="local", workers=2, api_base=fake_llm.url + "/v1"
    )
    state = json.loads((batch / "state.json").read_text())
    assert len(fake_llm.chat_requests) == calls_before
    assert state["tasks"]["centre"] == state_before["tasks"]["centre"]
    assert state["tasks"]["broken"]["attempts"] == 2
    assert {r.task: r.status for r in again.rows} == {
        "centre": "done",
        "left": "done",
        "broken": "failed",
    }
    assert again.rows[0].best_fitness == rows["centre"].best_fitness
    # a resume of one task keeps the other tasks' rows in the batch's table
    only = run_batch(
        suite, resume=batch, tasks=["broken"], executor="local", workers=2,
        api_base=fake_llm.url + "/v1",
    )  # fmt: skip
    assert [r.task for r in only.rows] == ["broken"]
    with open(batch / "results.csv", newline="") as f:
        assert [r["task"] for r in csv.DictReader(f)] == ["centre", "left", "broken"]
    assert "| centre | CartPole-v1 | done |" in (batch / "results.md").read_text()


@pytest.mark.expensive
def test_a_task_whose_candidates_all_fail_is_reported(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.add_rule(REPAIR, load_answer("designer_cartpole_no_code"), repeat_last=True)
    fake_llm.add_rule(INITIAL, load_answer("designer_cartpole_no_code"), repeat_last=True)
    suite = load_suite(_suite_file(tmp_path, baseline=False), check_envs=False)
    result = run_batch(
        suite, out=tmp_path, tasks=["centre"], workers=1, model=MODEL, api_base=fake_llm.url + "/v1"
    )
    (row,) = result.rows
    assert row.status == "failed"
    assert row.reason.startswith("all 1 candidates failed (failed_check: 1)")
    assert row.baseline_fitness is None and row.random_fitness is not None
    assert row.sparse_fitness is not None, "the sparse-fitness baseline is on by default"


def test_missing_api_key_fails_before_any_work(
    fake_llm: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    suite = load_suite(_suite_file(tmp_path), check_envs=False)
    with pytest.raises(LLMError, match="OPENAI_API_KEY is not set"):
        run_batch(suite, out=tmp_path / "runs", model=MODEL, api_base=fake_llm.url + "/v1")
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_a_different_suite_or_changed_tasks(tmp_path: Path) -> None:
    suite = load_suite(_suite_file(tmp_path), check_envs=False)
    batch = BatchDir.create(
        tmp_path / "runs", suite, {"model": MODEL, "api_base": None, "overrides": {}}
    )
    other = Suite(name="other", tasks=[{"name": "a", "env": "CartPole-v1", "task": "t"}])
    with pytest.raises(ConfigError, match="holds a batch of suite 'tiny', not 'other'"):
        run_batch(other, resume=batch.path, preflight=False)
    changed = suite.model_copy(deep=True)
    changed.tasks[0].steps = 999
    with pytest.raises(ConfigError, match="task\\(s\\) centre changed since"):
        run_batch(changed, resume=batch.path, preflight=False)
    with pytest.raises(
        ConfigError, match="cannot change --steps/--iterations/--samples when resuming"
    ):
        run_batch(suite, resume=batch.path, overrides={"steps": 10}, preflight=False)


# --------------------------------------------------------------------------- CLI


def test_cli_dry_run_lists_tasks_and_problems(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        app, ["batch", "classic", "--dry-run", "--tasks", "cartpole-balance,acrobot-swing-up"]
    )
    assert ok.exit_code == 0, ok.output
    assert (
        "cartpole-balance" in ok.output
        and "acrobot-swing-up" in ok.output
        and "pendulum" not in ok.output
    )
    bad = runner.invoke(app, ["batch", str(_suite_file(tmp_path)), "--dry-run"])
    assert bad.exit_code == 1 and "1 task(s) cannot run" in bad.output


def test_cli_refuses_to_start_a_suite_with_a_bad_env(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["batch", str(_suite_file(tmp_path)), "--out", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2
    assert "task 'broken': unknown environment 'CartPole-v99'" in result.output
    assert not (tmp_path / "runs").exists()


def test_cli_needs_a_suite_or_a_batch_to_resume() -> None:
    result = CliRunner().invoke(app, ["batch"])
    assert result.exit_code == 2
    assert "a suite is needed: autoreward batch SUITE.yaml" in result.output


def test_dry_run_in_a_pipe_cuts_no_cell(tmp_path: Path) -> None:
    """Piped output has no terminal width: the table takes its natural width, nothing ends in …
    and no cell is broken over lines (the problem of a task stays on its row)."""
    out = CliRunner().invoke(app, ["batch", str(_suite_file(tmp_path)), "--dry-run"]).output
    assert "…" not in out
    for name, env in [("centre", "CartPole-v1"), ("left", "CartPole-v1")]:
        assert re.search(rf"│ {name} +│ {env} +│ PPO +│ 2,048 +│ 1 × 1 +│ score, sum +│ 0\.9", out)
    row = next(line for line in out.splitlines() if line.startswith("│ broken "))
    assert "unknown environment 'CartPole-v99' (did you mean CartPole-v1, CartPole-v0?)" in row
    assert row.endswith("?) │")


def test_manual_prompts_of_a_batch_are_shown_with_their_task() -> None:
    """Each task numbers its own prompts (prompt 1 in every task): the task goes with each."""
    from rich.console import Console

    from autoreward.batch.commands import BatchView, LiveBatchView, _Task

    def wait(task: str, n: int) -> dict[str, Any]:
        folder = f"/runs/batch/tasks/{task}/llm/manual"
        return {"event": "task_loop", "task": task, "loop": {
            "event": "manual_wait", "prompt": n, "role": "designer",
            "prompt_path": f"{folder}/prompt_{n}.md", "answer_path": f"{folder}/answer_{n}.md"}}  # fmt: skip

    view = BatchView(suite="s", tasks={"cartpole": _Task(env="CartPole-v1"),
                                       "pendulum": _Task(env="Pendulum-v1")})  # fmt: skip
    out = io.StringIO()
    live = LiveBatchView(view, Console(file=out, width=80, force_terminal=False))
    with live:
        live(wait("cartpole", 1))
        live(wait("pendulum", 1))
        live({"event": "task_state", "task": "cartpole", "status": "running"})
    printed = out.getvalue()
    assert "manual task cartpole: prompt 1 (designer) is waiting for your answer:" in printed
    assert "  1. open /runs/batch/tasks/pendulum/llm/manual/prompt_1.md\n" in printed
    assert "[task] cartpole running" in printed

    shown = Console(width=160, record=True)
    shown.print(view.render())
    text = shown.export_text()
    assert "2 prompts to answer" in text
    assert "cartpole: prompt 1 (designer) /runs/batch/tasks/cartpole/llm/manual/prompt_1.md" in text
    assert "pendulum: prompt 1 (designer) /runs/batch/tasks/pendulum/llm/manual/prompt_1.md" in text
    view.update({"event": "task_loop", "task": "cartpole",
                 "loop": {"event": "manual_answered", "prompt": 1, "role": "designer"}})  # fmt: skip
    assert list(view.manual) == [("pendulum", 1)]


def test_env_modules_are_imported_before_the_task_threads_start() -> None:
    """Two task threads importing one gymnasium package at once saw it half-initialised
    (a real failure of a batch); run_batch imports every task's env module first."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from autoreward.batch.run import _import_env_modules\n"
        "from autoreward.batch.suites import load_suite\n"
        "assert 'gymnasium.envs.classic_control.acrobot' not in sys.modules\n"
        "_import_env_modules(load_suite('classic').tasks)\n"
        "assert 'gymnasium.envs.classic_control.acrobot' in sys.modules\n"
        "assert 'gymnasium.envs.classic_control.cartpole' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.expensive
def test_ctrl_c_stops_a_batch_and_its_training_workers_at_once(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    """The workers run in their own sessions (the terminal's Ctrl-C never reaches them) and a
    batch waits on them from task threads, not the main one: the interrupt must kill them, or
    the process lives on until every running job has trained to the end."""
    fake_llm.add_rule(INITIAL, load_answer("designer_cartpole_1"), repeat_last=True)
    suite = _suite_file(tmp_path, steps=200_000, samples=2)
    data = yaml.safe_load(suite.read_text())
    data["tasks"] = data["tasks"][:2]
    suite.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**os.environ, "OPENAI_API_KEY": "sk-fake"}
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoreward.cli", "batch", str(suite), "--model", MODEL,
         "--api-base", fake_llm.url + "/v1", "--workers", "2", "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        # the baselines (full budget) train first, beside the screening
        deadline = time.time() + 180
        while time.time() < deadline and not list(out.glob("**/train/progress.json")):
            time.sleep(0.2)
        assert list(out.glob("**/train/progress.json")), "training never started"
        workers = _descendants(proc.pid)
        assert workers, "no worker process found under the batch"
        os.kill(proc.pid, signal.SIGINT)
        # not the minutes the 200k-step jobs would take
        text = proc.communicate(timeout=60)[0].decode()
        assert proc.returncode == 130, text
        assert "autoreward batch --resume" in text
        assert "Exception in thread" not in text and "Traceback" not in text, text
        assert not list(out.glob("**/jobs/*.json")), "an interrupted job was recorded"
    finally:  # a failed check must not leave the batch training on
        if proc.poll() is None:
            for pid in [*_descendants(proc.pid), proc.pid]:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert alive == [], f"worker processes outlived the batch: {alive}"


def _descendants(root: int) -> list[int]:
    """Every live process below `root` (from /proc: the workers' own sessions hide them from
    a process-group view)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
