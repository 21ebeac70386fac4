"""Successive halving: ranking on synthetic scores, and the rung logic against a fake executor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from autoreward.errors import ConfigError
from autoreward.train.halving import (
    RungScore,
    decide_survivors,
    learning_progress,
    n_survivors,
    rank_candidates,
    select_survivors,
    standard_error,
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


# ---- decisions on noise (issue: pruned 0.008 against 0.0136 and 0.025; pruned the best env
# return when all three scored 0.0)


def test_a_candidate_inside_the_noise_band_of_the_weakest_survivor_is_kept() -> None:
    scores = [
        RungScore(index=0, fitness=0.0136, fitness_se=0.004),
        RungScore(index=1, fitness=0.008, fitness_se=0.003),
        RungScore(index=2, fitness=0.025, fitness_se=0.005),
    ]
    decisions = decide_survivors(scores, keep_fraction=0.5)
    kept = {d.index: d for d in decisions}
    assert [d.index for d in decisions] == [2, 0, 1]
    assert kept[2].kept and kept[0].kept
    # 0.0136 - 0.008 = 0.0056 lies outside the band hypot(0.004, 0.003) = 0.005: pruned
    assert not kept[1].kept
    assert "more than the noise band 0.005" in kept[1].why
    # with a wider spread the same gap is inside the band: kept, and said so
    wider = [s.model_copy(update={"fitness_se": 0.006}) if s.index == 1 else s for s in scores]
    d1 = {d.index: d for d in decide_survivors(wider, keep_fraction=0.5)}[1]
    assert d1.kept and "within the noise band of cand 0" in d1.why


def test_exact_ties_are_broken_by_progress_then_env_return_never_by_position_alone() -> None:
    scores = [
        RungScore(index=0, fitness=0.0, env_return=12.0),
        RungScore(index=1, fitness=0.0, env_return=35.0),
        RungScore(index=2, fitness=0.0, env_return=20.0),
    ]
    decisions = decide_survivors(scores, keep_fraction=0.5)
    assert [d.index for d in decisions if d.kept] == [1, 2]
    pruned = next(d for d in decisions if not d.kept)
    assert pruned.index == 0
    assert (
        "tied on fitness with cand 2" in pruned.why
        and "ahead on env return (20 vs 12)" in pruned.why
    )
    # learning progress comes before env return
    scores[0] = scores[0].model_copy(update={"progress": 0.5})
    assert select_survivors(scores, keep_fraction=0.5) == [0, 1]


def test_the_noise_band_admits_at_most_as_many_extra_as_the_rule_keeps() -> None:
    scores = [RungScore(index=i, fitness=0.5 - 0.001 * i, fitness_se=0.1) for i in range(6)]
    decisions = decide_survivors(scores, keep_fraction=0.34)  # keeps 3, band admits 3 more
    assert [d.kept for d in decisions] == [True] * 6
    scores.append(RungScore(index=6, fitness=0.49, fitness_se=0.1))
    scores.append(RungScore(index=7, fitness=0.488, fitness_se=0.1))
    decisions = decide_survivors(scores, keep_fraction=0.25)  # keeps 2, at most 2 extra
    assert sum(d.kept for d in decisions) == 4
    assert any("already admitted 2 extra" in d.why for d in decisions)


def test_standard_error_of_episode_values() -> None:
    assert standard_error([1.0, 0.0, 1.0, 0.0]) == pytest.approx(0.5 / 2 * (4 / 3) ** 0.5)
    assert standard_error([0.3]) is None
    assert standard_error([]) is None


def test_halving_result_carries_the_decisions_and_the_rule() -> None:
    executor = FakeExecutor({"a": 0.2, "b": 0.9, "c": 0.5})
    result = successive_halving(executor, _jobs(["a", "b", "c"]), keep_fraction=0.34)
    assert result.rung_steps == 400
    assert [d.index for d in result.decisions] == [1, 2, 0]
    assert result.decisions[0].kept and result.decisions[0].why.startswith("rank 1 of 3")
    assert "noise band" in result.rule
