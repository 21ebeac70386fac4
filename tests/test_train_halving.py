"""Successive halving: ranking on synthetic scores, and the rung logic against a fake executor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from autoreward.errors import ConfigError
from autoreward.train.halving import (
    RungScore,
    learning_progress,
    n_survivors,
    rank_candidates,
    select_survivors,
    successive_halving,
)
from autoreward.train.job import CurvePoint, TrainJob, TrainResult


def _curve(fitness: list[float]) -> list[CurvePoint]:
    return [
        CurvePoint(
            step=1000 * (i + 1), fitness=f, generated_return=None, env_return=None, episodes=1
        )
        for i, f in enumerate(fitness)
    ]


def test_learning_progress_is_the_fitness_slope() -> None:
    assert learning_progress(_curve([0.0, 0.5, 1.0])) == pytest.approx(1.0)
    assert learning_progress(_curve([0.8, 0.4, 0.0])) == pytest.approx(-0.8)
    assert learning_progress(_curve([0.3])) == 0.0


def test_rank_by_fitness_then_progress_failed_left_out() -> None:
    scores = [
        RungScore(index=0, fitness=0.5, progress=0.1),
        RungScore(index=1, fitness=None),
        RungScore(index=2, fitness=0.9, progress=-0.2),
        RungScore(index=3, fitness=0.5, progress=0.7),
        RungScore(index=4, fitness=0.1, progress=2.0),
    ]
    assert rank_candidates(scores) == [2, 3, 0, 4]
    assert select_survivors(scores, keep_fraction=0.5) == [2, 3, 0]  # ceil(5 * 0.5)
    assert select_survivors(scores, keep_fraction=0.2) == [2]


def test_survivor_counts() -> None:
    assert [n_survivors(k, 0.5) for k in (1, 2, 3, 4, 8)] == [1, 1, 2, 2, 4]
    with pytest.raises(ConfigError, match=r"keep_fraction must be in \(0, 1\], got 0"):
        n_survivors(4, 0)


class FakeExecutor:
    """Pretends to train: a candidate's fitness grows with steps at its own rate."""

    def __init__(self, rates: dict[str, float], fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.rates = rates
        self.fail = fail
        self.batches: list[list[TrainJob]] = []

    def map(
        self, jobs: Sequence[TrainJob], on_result: Any = None, on_progress: Any = None
    ) -> list[TrainResult]:
        self.batches.append(list(jobs))
        results = []
        for i, job in enumerate(jobs):
            start = 400 if job.resume_from else 0
            steps = int(job.total_steps or 0)
            if job.label in self.fail:
                result = TrainResult.failure(
                    job, "compute_reward raised", steps=start + 10, steps_this_run=10
                )
            else:
                rate = self.rates[job.label]
                result = TrainResult(
                    status="ok",
                    label=job.label,
                    out_dir=job.out_dir,
                    steps=steps,
                    steps_this_run=steps - start,
                    total_steps=steps,
                    fitness=rate * steps / 1600,
                    curve=_curve([rate * 0.1, rate * 0.2]),
                    checkpoint=f"{job.out_dir}/checkpoint",
                )
            if on_result:
                on_result(i, result)
            results.append(result)
        return results


def _jobs(labels: list[str]) -> list[TrainJob]:
    return [
        TrainJob(
            env_id="CartPole-v1", out_dir=f"/runs/{x}", label=x, total_steps=1600, n_checkpoints=8
        )
        for x in labels
    ]


def test_halving_keeps_best_half_and_continues_them_from_checkpoints() -> None:
    executor = FakeExecutor({"a": 0.2, "b": 0.9, "c": 0.5, "d": 0.6}, fail={"e"})
    seen: list[tuple[int, str]] = []
    result = successive_halving(
        executor,
        _jobs(["a", "b", "c", "d", "e"]),
        rung_fraction=0.25,
        keep_fraction=0.5,
        on_result=lambda i, r: seen.append((i, r.label)),
    )
    first, second = executor.batches
    assert [j.total_steps for j in first] == [400] * 5
    assert all(j.n_checkpoints == 2 and not j.video for j in first)
    assert result.survivors == [1, 3, 2]
    assert [j.label for j in second] == ["b", "d", "c"]
    assert [j.resume_from for j in second] == [
        "/runs/b/checkpoint",
        "/runs/d/checkpoint",
        "/runs/c/checkpoint",
    ]
    assert all(j.total_steps == 1600 and j.n_checkpoints == 6 for j in second)
    # survivors report the full run; the others their first rung (the failure stays a failure)
    assert [r.steps for r in result.results] == [400, 1600, 1600, 1600, 10]
    assert result.results[4].status == "failed"
    assert result.steps_spent == 4 * 400 + 10 + 3 * 1200
    assert result.steps_if_all_full == 5 * 1600
    assert result.saved_fraction == pytest.approx(1 - 5210 / 8000)
    # callbacks report candidate indices, not positions in the second batch
    assert seen[5:] == [(1, "b"), (3, "d"), (2, "c")]


def test_single_candidate_trains_in_full_once() -> None:
    executor = FakeExecutor({"a": 1.0})
    result = successive_halving(executor, _jobs(["a"]))
    assert len(executor.batches) == 1 and executor.batches[0][0].total_steps == 1600
    assert result.steps_spent == result.steps_if_all_full == 1600


def test_halving_needs_a_budget() -> None:
    job = TrainJob(env_id="CartPole-v1", out_dir="/runs/x", label="x")
    with pytest.raises(ConfigError, match="needs total_steps on every job; missing on x"):
        successive_halving(FakeExecutor({}), [job, job])
