"""Successive halving on several training seeds (autoreward.loop.seeds): candidates ranked by
their mean over seeds at the rung and at the end, with what one seed alone would have chosen."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from autoreward.config import RunConfig
from autoreward.envs.registry import load_schema
from autoreward.loop.candidates import TrainPlan, train_candidates
from autoreward.loop.seeds import seeded_halving, selection_seeds
from autoreward.store.atomic import atomic_write_json
from autoreward.store.records import CandidateRecord
from autoreward.train.job import TrainJob, TrainResult

# code -> fitness per seed (0 = the run's seed, 100 = the second); the rung halves it.
# "lucky" wins on the run's seed alone; "steady" is better on average.
FIT = {
    "lucky": {0: 0.9, 100: 0.1},
    "steady": {0: 0.6, 100: 0.7},
    "weak": {0: 0.02, 100: 0.02},
    "poor": {0: 0.0, 100: 0.01},
}


class SeedExecutor:
    def __init__(self) -> None:
        self.batches: list[list[TrainJob]] = []

    def map(
        self, jobs: Sequence[TrainJob], on_result: Any = None, on_progress: Any = None
    ) -> list[TrainResult]:
        self.batches.append(list(jobs))
        out = []
        for i, job in enumerate(jobs):
            full = job.resume_from is not None or job.total_steps == 4000
            fit = FIT[job.reward_code or ""][job.seed] * (1.0 if full else 0.5)
            steps = int(job.total_steps or 0)
            out.append(TrainResult(status="ok", fitness=fit, fitness_episodes=[fit, fit, fit],
                                   env_return=fit, steps=steps, out_dir=job.out_dir,
                                   checkpoint=f"{job.out_dir}/checkpoint",
                                   steps_this_run=steps - (1000 if job.resume_from else 0)))  # fmt: skip
            if on_result:
                on_result(i, out[-1])
        return out


def jobs(tmp_path: Path, codes: list[str]) -> list[TrainJob]:
    return [
        TrainJob(
            env_id="CartPole-v1",
            out_dir=str(tmp_path / f"cand_{j}"),
            reward_code=c,
            total_steps=4000,
            seed=0,
        )  # fmt: skip
        for j, c in enumerate(codes)
    ]


def test_the_rung_and_the_best_use_the_mean_over_seeds(tmp_path: Path) -> None:
    ex = SeedExecutor()
    seen: list[int] = []
    out = seeded_halving(ex, jobs(tmp_path, ["lucky", "steady", "weak", "poor"]), 2,
                         rung_fraction=0.25, keep_fraction=0.5,
                         on_result=lambda i, r: seen.append(i))  # fmt: skip
    assert out.seeds == [0, 100] == selection_seeds(0, 2)
    rung, cont = ex.batches
    assert len(rung) == 8 and {j.total_steps for j in rung} == {1000}
    assert {j.seed for j in rung} == {0, 100} and not any(j.video for j in rung)
    assert str(tmp_path / "cand_1" / "seed_100") in {j.out_dir for j in rung}
    # survivors: the two best means (steady 0.65, lucky 0.5); both seeds continue
    assert set(out.halving.survivors) == {0, 1}
    assert len(cont) == 4 and all(j.resume_from for j in cont)
    assert out.halving.results[1].fitness == pytest.approx(0.65)
    assert out.halving.results[0].fitness == pytest.approx(0.5)
    assert [r.fitness for r in out.per_seed[1]] == [0.6, 0.7]
    # one seed alone would have kept lucky and steady too, but picked lucky as the best
    assert out.choice.best == 1 and out.choice.best_single_seed == 0 and out.choice.changed
    # steps: twice those of single-seed halving (4 rungs of 1,000 + 2 continuations of 3,000)
    assert out.halving.steps_spent == 2 * (4 * 1000 + 2 * 3000)
    assert "mean rung fitness over 2 training seeds" in out.halving.rule
    # callbacks are the run seed's, by candidate index
    assert sorted(seen) == [0, 0, 1, 1, 2, 3]


def test_the_iteration_records_the_mean_and_each_seed(tmp_path: Path) -> None:
    cfg = RunConfig(env_id="CartPole-v1", task="t", steps=4000, samples=4)
    plan = TrainPlan.from_config(cfg, load_schema("CartPole-v1"))
    assert plan.selection_seeds == 2  # the default
    codes = {0: "lucky", 1: "steady", 2: "weak", 3: "poor"}
    dirs = {j: tmp_path / f"cand_{j}" for j in codes}
    for j, d in dirs.items():
        atomic_write_json(d / "screen.json",
                          CandidateRecord(iteration=0, index=j, status="screened").model_dump())  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = []
    records = train_candidates(SeedExecutor(), plan, dirs, codes, 0,
                               on_event=lambda kind, **data: events.append((kind, data)))  # fmt: skip
    by = {r.index: r for r in records}
    assert (
        by[1].status == "trained"
        and by[1].fitness == pytest.approx(0.65)
        and by[1].seed_fitness == [0.6, 0.7]
    )
    assert by[3].status == "pruned" and by[3].rung is not None and not by[3].rung.kept
    halving = next(d for k, d in events if k == "halving")
    assert halving["best"] == 1 and halving["best_single_seed"] == 0
    assert halving["single_seed_differs"] and halving["seeds"] == [0, 100]


def test_one_selection_seed_is_plain_halving(tmp_path: Path) -> None:
    cfg = RunConfig(env_id="CartPole-v1", task="t", steps=4000, samples=4, selection_seeds=1)
    plan = TrainPlan.from_config(cfg, load_schema("CartPole-v1"))
    ex = SeedExecutor()
    codes = {0: "lucky", 1: "steady", 2: "weak", 3: "poor"}
    dirs = {j: tmp_path / f"cand_{j}" for j in codes}
    records = train_candidates(ex, plan, dirs, codes, 0, on_event=lambda kind, **data: None)
    assert {j.seed for b in ex.batches for j in b} == {0}
    assert {r.index: r.fitness for r in records if r.status == "trained"}[0] == 0.9
    assert all(r.seed_fitness == [] for r in records)
