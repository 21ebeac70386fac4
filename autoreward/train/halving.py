"""Successive halving over reward candidates: a short first rung for all, the full budget for
the best fraction, continued from their rung-one checkpoints.

The ranking (`learning_progress`, `rank_candidates`, `decide_survivors`, `select_survivors`) is
pure and separate from `successive_halving`, which drives an executor.

Decisions on noise (`HALVING_RULE`): a rung fitness is the mean over a few evaluation episodes,
so each carries a standard error (from its per-episode values). Candidates are ranked by
fitness; exact ties are broken by learning progress over the rung, then by the env's own
return (a sign that the policy learned to act at all), then by index. The best
ceil(K x keep_fraction) continue, and so does every further candidate whose fitness lies within
the noise band of the weakest of them (|difference| <= one standard error of the difference):
the rung cannot tell those apart. The band admits at most as many extra candidates as the
plain rule keeps, so halving still prunes when everything is noisy.
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


NOISE_Z = 1.0
"""Width of the noise band in standard errors of the difference between two rung fitnesses."""
HALVING_RULE = (
    "ranked by rung fitness (ties: learning progress, then env return, then index); the best "
    "ceil(K x keep_fraction) continue, plus any candidate inside the noise band of the weakest "
    "of them (one standard error of the difference; at most as many extra as the rule keeps)"
)


class RungScore(BaseModel):
    """How a candidate did on a rung: its fitness (None = failed), the standard error of that
    fitness over its evaluation episodes, learning progress and the env's own return."""

    index: int
    fitness: float | None
    progress: float = 0.0
    env_return: float | None = None
    fitness_se: float | None = None


class RungDecision(BaseModel):
    """Whether a candidate continues after the rung, and why (said in events and reports)."""

    index: int
    fitness: float | None
    fitness_se: float | None = None
    env_return: float | None = None
    progress: float = 0.0
    kept: bool
    why: str


class HalvingResult(BaseModel):
    """Per candidate (in job order) its last result: the full run for survivors, the first
    rung for the others."""

    results: list[TrainResult]
    first_rung: list[TrainResult]
    survivors: list[int]
    steps_spent: int
    steps_if_all_full: int
    decisions: list[RungDecision] = []
    """Per candidate (rank order) whether it continued after the first rung, and why."""
    rung_steps: int = 0
    rule: str = HALVING_RULE

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


def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of the mean of per-episode values; None with fewer than two."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return None
    return float(np.std(finite, ddof=1) / math.sqrt(len(finite)))


def noise_band(a: RungScore, b: RungScore, z: float = NOISE_Z) -> float:
    """z standard errors of the difference between two rung fitnesses (0 when unknown)."""
    return z * math.hypot(a.fitness_se or 0.0, b.fitness_se or 0.0)


def _alive(s: RungScore) -> bool:
    return s.fitness is not None and math.isfinite(s.fitness)


def _order_key(s: RungScore) -> tuple[float, float, float, int]:
    env = s.env_return if s.env_return is not None and math.isfinite(s.env_return) else -math.inf
    return (-float(s.fitness), -s.progress, -env, s.index)  # type: ignore[arg-type]


def rank_candidates(scores: Sequence[RungScore]) -> list[int]:
    """Candidate indices, best first: higher fitness; exact ties broken by faster learning
    progress, then by a higher env return, then by lower index. Failed candidates (fitness
    None) are left out."""
    return [s.index for s in sorted(filter(_alive, scores), key=_order_key)]


def n_survivors(n_candidates: int, keep_fraction: float, min_keep: int = 1) -> int:
    """How many candidates continue: ceil(K × keep_fraction), at least `min_keep`, at most K."""
    if not 0 < keep_fraction <= 1:
        raise ConfigError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    return min(n_candidates, max(min_keep, math.ceil(n_candidates * keep_fraction)))


def decide_survivors(
    scores: Sequence[RungScore], keep_fraction: float, min_keep: int = 1, z: float = NOISE_Z
) -> list[RungDecision]:
    """Who continues after the rung and why, in rank order (failed candidates last); see
    `HALVING_RULE`."""
    by_index = {s.index: s for s in scores}
    ranked = [by_index[i] for i in rank_candidates(scores)]
    keep = n_survivors(len(scores), keep_fraction, min_keep)
    sure, rest = ranked[:keep], ranked[keep:]
    decisions: list[RungDecision] = []
    weakest = sure[-1] if sure else None
    extra_left = keep
    for rank, s in enumerate(sure, 1):
        why = f"rank {rank} of {len(scores)} at the rung ({_pm(s)})"
        beaten = next((r for r in rest if r.fitness == s.fitness), None)
        if beaten is not None:
            why += f"; tied on fitness with cand {beaten.index}, {_tie_break(s, beaten)}"
        decisions.append(_decision(s, True, why))
    for s in rest:
        assert weakest is not None
        band = noise_band(s, weakest, z)
        gap = float(weakest.fitness) - float(s.fitness)  # type: ignore[arg-type]
        if s.fitness == weakest.fitness:
            why = (f"tied on fitness with cand {weakest.index} ({_pm(s)}), "
                   f"{_tie_break(weakest, s)}")  # fmt: skip
            decisions.append(_decision(s, False, "pruned: " + why))
        elif gap <= band and extra_left > 0:
            extra_left -= 1
            why = (f"within the noise band of cand {weakest.index}: {_pm(s)} against "
                   f"{_pm(weakest)}, difference {gap:.3g} <= band {band:.3g}")  # fmt: skip
            decisions.append(_decision(s, True, why))
        elif gap <= band:
            why = (f"within the noise band of cand {weakest.index} ({_pm(s)} against "
                   f"{_pm(weakest)}) but the band already admitted {keep} extra")  # fmt: skip
            decisions.append(_decision(s, False, "pruned: " + why))
        else:
            why = (f"{_pm(s)}, below cand {weakest.index} ({_pm(weakest)}) by {gap:.3g}, "
                   f"more than the noise band {band:.3g}")  # fmt: skip
            decisions.append(_decision(s, False, "pruned: " + why))
    for s in scores:
        if not _alive(s):
            decisions.append(_decision(s, False, "failed at the rung"))
    return decisions


def select_survivors(
    scores: Sequence[RungScore], keep_fraction: float, min_keep: int = 1
) -> list[int]:
    """The indices that continue to the full budget, best first (see `decide_survivors`)."""
    return [d.index for d in decide_survivors(scores, keep_fraction, min_keep) if d.kept]


def _decision(s: RungScore, kept: bool, why: str) -> RungDecision:
    return RungDecision(
        index=s.index, fitness=s.fitness, fitness_se=s.fitness_se, env_return=s.env_return,
        progress=s.progress, kept=kept, why=why,
    )  # fmt: skip


def _pm(s: RungScore) -> str:
    if s.fitness is None:
        return "failed"
    return f"{s.fitness:.3g}" + ("" if s.fitness_se is None else f" ± {s.fitness_se:.2g}")


def _tie_break(winner: RungScore, loser: RungScore) -> str:
    """Which secondary signal put `winner` ahead of `loser` (equal fitness)."""
    if winner.progress != loser.progress:
        return f"ahead on learning progress ({winner.progress:+.3g} vs {loser.progress:+.3g})"
    we, le = winner.env_return, loser.env_return
    if we is not None and (le is None or we != le):
        other = "none" if le is None else f"{le:.4g}"
        return f"ahead on env return ({we:.4g} vs {other})"
    return "equal on every signal: the lower index goes first"


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
                # the rung decides on the measured fitness alone: no video and no reward-terms
                # container (a survivor computes both after its full run)
                "video": False,
                "reward_terms": False,
            }
        )
        for job, total in zip(jobs, full, strict=True)
    ]
    first = executor.map(first_jobs, on_result=on_result, on_progress=on_progress)
    decisions = decide_survivors(_scores(first), keep_fraction)
    survivors = [d.index for d in decisions if d.kept]

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
        decisions=decisions,
        rung_steps=int(first_jobs[0].total_steps or 0),
    )


def _scores(results: Sequence[TrainResult]) -> list[RungScore]:
    return [
        RungScore(
            index=i,
            fitness=r.fitness if r.status == "ok" else None,
            progress=learning_progress(r.curve),
            env_return=r.env_return if r.status == "ok" else None,
            fitness_se=standard_error(r.fitness_episodes) if r.status == "ok" else None,
        )
        for i, r in enumerate(results)
    ]
