"""The best reward is chosen from a multi-seed estimate of the top few, not from the maximum
of single-seed values (autoreward.loop.selection)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoreward.config import RunConfig
from autoreward.envs.registry import load_schema
from autoreward.loop.candidates import TrainPlan
from autoreward.loop.selection import choose, same_candidates, select_best, top_candidates
from autoreward.store.atomic import atomic_write_text
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir
from autoreward.train.job import TrainJob, TrainResult


class SeedExecutor:
    """Fitness per reward code, per seed; records each map call."""

    def __init__(self, by_code: dict[str, list[float]]) -> None:
        self.by_code = by_code
        self.batches: list[list[TrainJob]] = []

    def map(
        self, jobs: Sequence[TrainJob], on_result: Any = None, on_progress: Any = None
    ) -> list[TrainResult]:
        self.batches.append(list(jobs))
        out = []
        for job in jobs:
            values = self.by_code[job.reward_code or ""]
            k = (job.seed // 1000) - 1
            out.append(
                TrainResult(
                    status="ok", fitness=values[k], steps=10, seed=job.seed, out_dir=job.out_dir
                )
            )
        return out


def _history(run: RunDir) -> list[CandidateRecord]:
    recs = [
        CandidateRecord(
            iteration=0, index=0, status="trained", fitness=0.96, steps=100
        ),  # lucky seed
        CandidateRecord(iteration=1, index=1, status="trained", fitness=0.80, steps=100),
        CandidateRecord(iteration=1, index=0, status="trained", fitness=0.50, steps=100),
        CandidateRecord(
            iteration=0, index=1, status="pruned", fitness=0.99, steps=25
        ),  # not full budget
    ]
    for r in recs:
        atomic_write_text(
            run.cand_dir(r.iteration, r.index) / "reward.py", f"# reward {r.iteration}{r.index}\n"
        )
    return recs


def _plan() -> TrainPlan:
    cfg = RunConfig(env_id="CartPole-v1", task="t", steps=1000, seed=7)
    return TrainPlan.from_config(cfg, load_schema("CartPole-v1"))


def test_top_candidates_are_fully_trained_ones_by_single_seed_fitness(tmp_path: Path) -> None:
    top = top_candidates(_history(RunDir(tmp_path)), 2)
    assert [(r.iteration, r.index) for r in top] == [(0, 0), (1, 1)]


def test_the_best_mean_over_fresh_seeds_wins_and_the_estimates_are_kept(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    history = _history(run)
    executor = SeedExecutor({"# reward 00\n": [0.3, 0.9, 0.6], "# reward 11\n": [0.7, 0.8, 0.75]})
    picked = select_best(
        executor, _plan(), run, history, n_candidates=2, n_seeds=3, on_event=lambda *a, **k: None
    )
    assert picked is not None
    rec, final = picked
    assert (rec.iteration, rec.index) == (1, 1), (
        "0.75 ± 0.04 beats the lucky 0.96 that averages 0.6"
    )
    assert final["mean"] == 0.75 and final["n_seeds"] == 3 and final["changed_best"] is True
    assert [c["mean"] for c in final["candidates"]] == [0.6, 0.75]
    assert [c["screening_fitness"] for c in final["candidates"]] == [0.96, 0.80]
    assert "retrained on the same 3 fresh seeds" in final["rule"]
    # one executor call for all of them, on the same seeds, in their own folders
    [batch] = executor.batches
    assert [j.seed for j in batch] == [1007, 2007, 3007] * 2
    assert batch[0].out_dir.endswith("best/final/iter_0_cand_0/seed_1007")
    assert same_candidates(final, top_candidates(history, 2), 3)
    assert not same_candidates(final, top_candidates(history, 3), 3)
    assert not same_candidates({"mean": 0.5, "n_seeds": 3}, top_candidates(history, 2), 3)


def test_choose_ranks_failed_estimates_last_and_breaks_ties_by_screening() -> None:
    a = {"mean": None, "screening_fitness": 0.9}
    b = {"mean": 0.5, "screening_fitness": 0.4}
    c = {"mean": 0.5, "screening_fitness": 0.6}
    assert choose([a, b, c]) is c
