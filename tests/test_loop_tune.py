"""Coefficient tuning (autoreward.loop.tune): Optuna trials over the best reward's COEFFICIENTS,
pruned on the first rung, the best trial retrained on the final seeds, recorded and resumable.

The executor here is a stand-in whose fitness is a known function of the coefficients it finds
in each job's reward code, so the test can say which values should win."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fakellm import MODEL, FakeLLMServer, load_answer

from autoreward.agents.coefficients import format_value, parse_coefficients
from autoreward.config import RunConfig
from autoreward.envs.registry import load_schema
from autoreward.loop import run_loop
from autoreward.loop.candidates import TrainPlan
from autoreward.loop.tune import tune_best
from autoreward.report import write_run_report
from autoreward.store.atomic import atomic_write_text
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir
from autoreward.train.job import TrainJob, TrainResult

REWARD = """import numpy as np

COEFFICIENTS = {
    "upright": (0.2, 0.0, 4.0),
    "centre": (1.0, 0.0, 2.0),
}


def compute_reward(state, action, next_state):
    c = COEFFICIENTS
    up = c["upright"][0] * (1.0 - np.abs(next_state["pole_angle"]))
    centre = -c["centre"][0] * np.abs(next_state["cart_position"])
    return up + centre, {"upright": up, "centre": centre}
"""


def quality(code: str) -> float:
    """The fitness the stand-in trains to: best at upright 3, centre 0.5."""
    w = {c.name: c.value for c in parse_coefficients(code)}
    return 1.0 - 0.1 * (w["upright"] - 3.0) ** 2 - 0.2 * (w["centre"] - 0.5) ** 2


class CoefExecutor:
    def __init__(self) -> None:
        self.jobs: list[TrainJob] = []

    def map(
        self, jobs: Sequence[TrainJob], on_result: Any = None, on_progress: Any = None
    ) -> list[TrainResult]:
        out = []
        for i, job in enumerate(jobs):
            self.jobs.append(job)
            q = quality(job.reward_code or "")
            rung = job.resume_from is None and job.video is False and job.total_steps == 1000
            fit = q * (0.5 if rung else 1.0) + 0.001 * (job.seed % 7)
            out.append(TrainResult(status="ok", fitness=fit, fitness_episodes=[fit] * 3,
                                   steps=int(job.total_steps or 0), out_dir=job.out_dir,
                                   checkpoint=f"{job.out_dir}/checkpoint",
                                   steps_this_run=1000 if rung or job.resume_from is None else 3000))  # fmt: skip
            if on_result:
                on_result(i, out[-1])
        return out


def setup(tmp_path: Path) -> tuple[RunDir, TrainPlan, CandidateRecord, dict[str, Any]]:
    cfg = RunConfig(env_id="CartPole-v1", task="t", steps=4000, samples=2, final_seeds=2)
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    atomic_write_text(run.cand_dir(0, 0) / "reward.py", REWARD)
    best = CandidateRecord(iteration=0, index=0, status="trained", fitness=quality(REWARD),
                           steps=4000)  # fmt: skip
    final = {"iteration": 0, "index": 0, "mean": quality(REWARD), "n_seeds": 2}
    return run, TrainPlan.from_config(cfg, load_schema("CartPole-v1")), best, final


def tune(run: RunDir, plan: TrainPlan, best: CandidateRecord, final: dict[str, Any], ex: CoefExecutor,
         n: int, events: list[tuple[str, dict[str, Any]]]) -> Any:  # fmt: skip
    return tune_best(run, ex, plan, best, final, n_trials=n, n_seeds=2, seed=0,
                     check=lambda code: None,
                     on_event=lambda kind, **data: events.append((kind, data)))  # fmt: skip


def test_trials_search_the_ranges_prune_on_the_rung_and_the_winner_replaces_the_best(
    tmp_path: Path,
) -> None:
    run, plan, best, final = setup(tmp_path)
    ex = CoefExecutor()
    events: list[tuple[str, dict[str, Any]]] = []
    record = tune(run, plan, best, final, ex, 8, events)

    assert record.status == "done" and [c.name for c in record.coefficients] == [
        "upright",
        "centre",
    ]
    states = [t.state for t in record.trials]
    assert states[0] == "original" and len(states) == 9
    assert "pruned" in states and "complete" in states  # the rung pruned some trials
    for t in record.trials[1:]:
        assert 0.0 <= t.params["upright"] <= 4.0 and 0.0 <= t.params["centre"] <= 2.0
        code = (run.path / "tune" / t.folder / "reward.py").read_text()
        assert {c.name: c.value for c in parse_coefficients(code)} == t.params
    # every trial trained on the run's rung first (a quarter of 4,000 steps), without video
    rungs = [j for j in ex.jobs if j.total_steps == 1000]
    assert len(rungs) == 8 and all(not j.video and j.seed == plan.seed for j in rungs)
    pruned = [t for t in record.trials if t.state == "pruned"]
    assert all(t.fitness is None and t.rung_fitness is not None for t in pruned)
    # the best trial beat the original, was retrained on the final seeds and is now the best
    assert record.best is not None and record.best.fitness > quality(REWARD)
    assert [s["seed"] for s in record.final["per_seed"]] == [1000, 2000]
    assert record.chosen and record.baseline_mean == quality(REWARD)
    best_code = (run.best_dir / "reward.py").read_text()
    assert best_code == (run.path / "tune" / "best_reward.py").read_text()
    assert {c.name: c.value for c in parse_coefficients(best_code)} == record.best.params
    saved = json.loads((run.path / "tune" / "tune.json").read_text())
    assert saved["status"] == "done" and len(saved["trials"]) == 9
    assert record.steps_spent == sum(t.steps for t in record.trials) > 0
    kinds = [k for k, _ in events]
    assert kinds.count("tune_trial") == 8 and kinds[-1] == "tune_end"


def test_a_resumed_study_trains_nothing_twice_and_more_trials_only_add(tmp_path: Path) -> None:
    run, plan, best, final = setup(tmp_path)
    first = tune(run, plan, best, final, CoefExecutor(), 3, [])
    again = CoefExecutor()
    same = tune(run, plan, best, final, again, 3, [])
    assert [t.params for t in same.trials] == [t.params for t in first.trials]
    assert again.jobs == []  # the study had its trials; the final seeds' results are on disk
    more = CoefExecutor()
    grown = tune(run, plan, best, final, more, 5, [])
    assert len(grown.trials) == 6 and grown.trials[:4] == first.trials
    assert len({j.out_dir for j in more.jobs if j.total_steps == 1000}) == 2


def test_a_trial_cut_off_is_asked_again_with_the_same_values(tmp_path: Path) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    run, plan, best, final = setup(tmp_path)
    tune(run, plan, best, final, CoefExecutor(), 2, [])
    storage = optuna.storages.JournalStorage(
        JournalFileBackend(str(run.path / "tune" / "journal.log"))
    )
    study = optuna.load_study(study_name="coefficients", storage=storage)
    cut = study.ask({"upright": optuna.distributions.FloatDistribution(0.0, 4.0),
                     "centre": optuna.distributions.FloatDistribution(0.0, 2.0)})  # fmt: skip
    # a killed run left this trial running; the values are written to 6 significant digits
    values = {k: float(format_value(v)) for k, v in cut.params.items()}
    record = tune(run, plan, best, final, CoefExecutor(), 3, [])
    assert [t.params for t in record.trials].count(values) == 1
    assert len(record.trials) == 4  # the original, two trials, the one asked again


def test_a_reward_without_coefficients_is_not_tuned_and_says_why(tmp_path: Path) -> None:
    run, plan, best, final = setup(tmp_path)
    plain = "def compute_reward(state, action, next_state):\n    return action * 0.0, {}\n"
    atomic_write_text(run.cand_dir(0, 0) / "reward.py", plain)
    ex = CoefExecutor()
    record = tune(run, plan, best, final, ex, 4, [])
    assert record.status == "skipped" and "declares no COEFFICIENTS" in record.reason
    assert ex.jobs == [] and (run.best_dir / "reward.py").exists() is False


def test_a_rewritten_reward_that_fails_its_check_is_a_failed_trial(tmp_path: Path) -> None:
    run, plan, best, final = setup(tmp_path)
    ex = CoefExecutor()
    record = tune_best(run, ex, plan, best, final, n_trials=2, n_seeds=0, seed=0,
                       check=lambda code: "dry run: NaN in the total",
                       on_event=lambda kind, **data: None)  # fmt: skip
    assert [t.state for t in record.trials] == ["original", "failed", "failed"]
    assert all("NaN in the total" in t.reason for t in record.trials[1:])
    assert ex.jobs == [] and record.best is None and not record.chosen


# ---------------------------------------------------------------- end to end (real training)


@pytest.mark.expensive
def test_tune_runs_end_to_end_from_the_loop_and_resumes(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.add_rule("# Advice", load_answer("designer_cartpole_coefficients"), repeat_last=True)
    cfg = RunConfig(
        env_id="CartPole-v1", task="Balance the pole near the centre.", model=MODEL,
        api_base=fake_llm.url + "/v1", iterations=1, samples=1, steps=2048, workers=2,
        eval_episodes=2, final_seeds=1, video=False, critic=False, tune=2, target_fitness=2.0,
    )  # fmt: skip
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    result = run_loop(cfg, run)
    assert result.tune is not None and result.tune["status"] == "done"
    trials = result.tune["trials"]
    assert [t["state"] for t in trials][0] == "original" and len(trials) == 3
    assert all(t["state"] in ("complete", "pruned") for t in trials[1:])
    for t in trials[1:]:
        folder = run.path / "tune" / t["folder"]
        assert (folder / "reward.py").exists() and (folder / "train.json").exists()
    if result.tune["best"] is not None:
        assert result.tune["final"]["n_seeds"] == 1
    assert 'id="tuning"' in write_run_report(run.path).read_text()
    # resumed with one more trial: only that trial trains
    more = cfg.model_copy(update={"tune": 3})
    again = run_loop(more, RunDir.open(run.path))
    assert again.tune is not None and len(again.tune["trials"]) == 4
    assert again.tune["trials"][:3] == trials
