"""Successive halving over reward candidates: a short first rung for all, the full budget for
the best fraction, continued from their rung-one checkpoints.

The ranking (`learning_progress`, `rank_candidates`, `select_survivors`) is pure and separate
from `successive_halving`, which drives an executor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from autoreward.errors import ConfigError
from autoreward.train.job import CurvePoint, TrainJob, TrainResult

if TYPE_CHECKING:
    from autoreward.exec.base import Executor


class RungScore(BaseModel):
    """How a candidate did on a rung: its fitness (None = failed) and learning progress."""

    index: int
    fitness: float | None
    progress: float = 0.0


class HalvingResult(BaseModel):
    """Per candidate (in job order) its last result: the full run for survivors, the first
    rung for the others."""

    results: list[TrainResult]
    first_rung: list[TrainResult]
    survivors: list[int]
    steps_spent: int
    steps_if_all_full: int

    @property
    def steps_saved(self) -> int:
        return self.steps_if_all_full - self.steps_spent

    @property
    def saved_fraction(self) -> float:
        return self.steps_saved / self.steps_if_all_full if self.steps_if_all_full else 0.0


def learning_progress(curve: Sequence[CurvePoint]) -> float:
    """Slope of fitness against training progress (steps scaled to [0, 1]); 0 when unknown."""
    points = [
        (p.step, p.fitness) for p in curve if p.fitness is not None and math.isfinite(p.fitness)
    ]
    if len(points) < 2:
        return 0.0
    steps = np.array([s for s, _ in points], dtype=float)
    fitness = np.array([f for _, f in points], dtype=float)
    span = steps.max() - steps.min()
    if span <= 0:
        return 0.0
    x = (steps - steps.min()) / span
    slope = np.polyfit(x, fitness, 1)[0]
    return float(slope)


def rank_candidates(scores: Sequence[RungScore]) -> list[int]:
    """Candidate indices, best first: higher fitness, ties broken by faster learning progress,
    then by lower index (stable). Failed candidates (fitness None) are left out."""
    alive = [s for s in scores if s.fitness is not None and math.isfinite(s.fitness)]
    ordered = sorted(alive, key=lambda s: (-s.fitness, -s.progress, s.index))  # type: ignore[operator]
    return [s.index for s in ordered]


def n_survivors(n_candidates: int, keep_fraction: float, min_keep: int = 1) -> int:
    """How many candidates continue: ceil(K × keep_fraction), at least `min_keep`, at most K."""
    if not 0 < keep_fraction <= 1:
        raise ConfigError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    return min(n_candidates, max(min_keep, math.ceil(n_candidates * keep_fraction)))


def select_survivors(
    scores: Sequence[RungScore], keep_fraction: float, min_keep: int = 1
) -> list[int]:
    """The indices that continue to the full budget, best first."""
    return rank_candidates(scores)[: n_survivors(len(scores), keep_fraction, min_keep)]


def rung_steps(total_steps: int, rung_fraction: float) -> int:
    if not 0 < rung_fraction <= 1:
        raise ConfigError(f"rung_fraction must be in (0, 1], got {rung_fraction}")
    return max(1, round(total_steps * rung_fraction))


def successive_halving(
    executor: Executor,
    jobs: Sequence[TrainJob],
    *,
    rung_fraction: float = 0.25,
    keep_fraction: float = 0.5,
    on_result: Callable[[int, TrainResult], None] | None = None,
    on_progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> HalvingResult:
    """Train every job for `rung_fraction` of its budget, keep the best `keep_fraction`, and
    continue those from their checkpoints to their full `total_steps`.

    Each job must have `total_steps` set. A candidate continues in the same `out_dir`, so
    its train/eval/stats files end up describing the full run. With one job, or when every
    candidate would survive, the jobs are simply trained in full.
    """
    if not jobs:
        return HalvingResult(
            results=[], first_rung=[], survivors=[], steps_spent=0, steps_if_all_full=0
        )
    missing = [j.label or j.out_dir for j in jobs if j.total_steps is None]
    if missing:
        raise ConfigError(
            f"successive halving needs total_steps on every job; missing on {', '.join(missing)}",
            hint="resolve the budget from the schema (schema.train.total_steps) before halving",
        )
    full = [int(j.total_steps) for j in jobs]  # type: ignore[arg-type]
    steps_if_all_full = sum(full)
    keep = n_survivors(len(jobs), keep_fraction)
    if keep >= len(jobs) or rung_fraction >= 1:
        results = executor.map(list(jobs), on_result=on_result, on_progress=on_progress)
        return HalvingResult(
            results=results,
            first_rung=results,
            survivors=rank_candidates(_scores(results)),
            steps_spent=sum(r.steps_this_run for r in results),
            steps_if_all_full=steps_if_all_full,
        )

    first_jobs = [
        job.model_copy(
            update={
                "total_steps": rung_steps(total, rung_fraction),
                "n_checkpoints": max(2, round(job.n_checkpoints * rung_fraction)),
                "video": False,
            }
        )
        for job, total in zip(jobs, full, strict=True)
    ]
    first = executor.map(first_jobs, on_result=on_result, on_progress=on_progress)
    survivors = select_survivors(_scores(first), keep_fraction)

    second_jobs: list[TrainJob] = []
    for i in survivors:
        done = first[i]
        second_jobs.append(
            jobs[i].model_copy(
                update={
                    "resume_from": done.checkpoint,
                    "n_checkpoints": max(1, jobs[i].n_checkpoints - first_jobs[i].n_checkpoints),
                }
            )
        )

    def forward(callback: Callable[..., None] | None) -> Callable[..., None] | None:
        if callback is None:
            return None
        return lambda k, *args: callback(survivors[k], *args)

    second = executor.map(
        second_jobs, on_result=forward(on_result), on_progress=forward(on_progress)
    )
    results = list(first)
    for i, result in zip(survivors, second, strict=True):
        results[i] = result
    steps_spent = sum(r.steps_this_run for r in first) + sum(r.steps_this_run for r in second)
    return HalvingResult(
        results=results,
        first_rung=first,
        survivors=survivors,
        steps_spent=steps_spent,
        steps_if_all_full=steps_if_all_full,
    )


def _scores(results: Sequence[TrainResult]) -> list[RungScore]:
    return [
        RungScore(
            index=i,
            fitness=r.fitness if r.status == "ok" else None,
            progress=learning_progress(r.curve),
        )
        for i, r in enumerate(results)
    ]
