"""Successive halving on more than one training seed (`selection_seeds`, default 2).

One training seed decides little at the budgets a CPU affords: the same reward can train to
0.10 on one seed and 0.98 on the next. So every candidate of an iteration trains its first
rung on each of `n` seeds (the run's seed, then `seed + 100 k`), the rung ranks candidates by
their mean over those seeds (the noise band now includes the spread between seeds), and the
survivors continue every seed from its checkpoint to the full budget. A candidate's fitness is
then its mean over the seeds, so the iteration's best, the designer's "best so far" and the
top candidates for the final seeds are all chosen on `n` seeds.

Budget: exactly `n` times the candidate training steps of single-seed halving (the rung and
the continuation both run on every seed); the final seeds are unchanged. The run's seed keeps
its place (`cand_<j>/`, with the files the analyzer reads); seed `s` lives in
`cand_<j>/seed_<s>/`.

The pruning rule itself is `train/halving.py`'s (`decide_survivors`); this module only turns
several seeds into one score per candidate, and records what one seed alone would have chosen
(`single_seed`), so a run says how often the choice changed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autoreward.train.halving import (
    HALVING_RULE,
    HalvingResult,
    RungScore,
    decide_survivors,
    learning_progress,
    n_survivors,
    rank_candidates,
    rung_steps,
    standard_error,
)
from autoreward.train.job import TrainJob, TrainResult

SEED_STRIDE = 100
"""Selection seeds are the run's seed, then seed + 100, seed + 200, ... (the final seeds are
seed + 1000 k: the two never meet for fewer than 10 selection seeds)."""
MULTI_SEED_RULE = HALVING_RULE.replace(
    "ranked by rung fitness", "ranked by the mean rung fitness over {n} training seeds"
)


class SeedChoice(BaseModel):
    """What the first seed alone would have decided, beside what the seeds together decided."""

    survivors_single_seed: list[int]
    survivors: list[int]
    best_single_seed: int | None
    best: int | None

    @property
    def changed(self) -> bool:
        return (
            set(self.survivors_single_seed) != set(self.survivors)
            or self.best_single_seed != self.best
        )


class SeededHalving(BaseModel):
    halving: HalvingResult
    """`results`/`first_rung` hold the run seed's results, with `fitness` and `env_return`
    replaced by the means over the seeds."""
    per_seed: list[list[TrainResult]]
    """Per candidate, its last result on each seed (in `seeds` order)."""
    seeds: list[int]
    choice: SeedChoice


def selection_seeds(seed: int, n: int) -> list[int]:
    return [seed + SEED_STRIDE * k for k in range(n)]


def seed_job(job: TrainJob, seed: int) -> TrainJob:
    """`job` on another training seed, in its own sub-folder of the candidate's folder."""
    if seed == job.seed:
        return job
    return job.model_copy(update={"seed": seed, "out_dir": str(Path(job.out_dir) / f"seed_{seed}")})


def seeded_halving(
    executor: Any,
    jobs: Sequence[TrainJob],
    n_seeds: int,
    *,
    rung_fraction: float,
    keep_fraction: float,
    on_result: Callable[[int, TrainResult], None] | None = None,
    on_progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> SeededHalving:
    """Successive halving of `jobs` (one per candidate, each with `total_steps`) where every
    candidate trains on `n_seeds` seeds and is ranked by its mean. Callbacks receive the
    candidate's index and its run-seed result."""
    seeds = selection_seeds(jobs[0].seed, n_seeds)
    k, n = len(jobs), len(seeds)
    full = [int(j.total_steps or 0) for j in jobs]
    prune = n_survivors(k, keep_fraction) < k and rung_fraction < 1
    grid = [seed_job(j, s) for j in jobs for s in seeds]  # candidate-major: g = i * n + s

    def fwd(cb: Callable[..., None] | None, cells: list[int]) -> Callable[..., None] | None:
        """A callback of grid cells `cells[i]` forwarded as its candidate's, run seed only."""
        if cb is None:
            return None
        return lambda i, *a: cb(cells[i] // n, *a) if cells[i] % n == 0 else None

    every = list(range(len(grid)))
    if not prune:
        done = executor.map(grid, on_result=fwd(on_result, every),
                            on_progress=fwd(on_progress, every))  # fmt: skip
        per_seed = [done[i * n : (i + 1) * n] for i in range(k)]
        scores = [_score(i, rs) for i, rs in enumerate(per_seed)]
        ranked = rank_candidates(scores)
        single = rank_candidates([_score(i, rs[:1]) for i, rs in enumerate(per_seed)])
        results = [_mean_result(rs) for rs in per_seed]
        return SeededHalving(
            halving=HalvingResult(results=results, first_rung=results, survivors=ranked,
                                  steps_spent=sum(r.steps_this_run for r in done),
                                  steps_if_all_full=sum(full) * n,
                                  rule=MULTI_SEED_RULE.format(n=n)),  # fmt: skip
            per_seed=per_seed, seeds=seeds,
            choice=SeedChoice(survivors_single_seed=single, survivors=ranked,
                              best_single_seed=single[0] if single else None,
                              best=ranked[0] if ranked else None),  # fmt: skip
        )  # fmt: skip

    rung = [rung_steps(t, rung_fraction) for t in full]
    first_grid = [
        j.model_copy(update={
            "total_steps": rung[i // n],
            "n_checkpoints": max(2, round(j.n_checkpoints * rung_fraction)),
            "video": False, "reward_terms": False,
        })
        for i, j in enumerate(grid)
    ]  # fmt: skip
    first = executor.map(first_grid, on_result=fwd(on_result, every),
                         on_progress=fwd(on_progress, every))  # fmt: skip
    first_per = [first[i * n : (i + 1) * n] for i in range(k)]
    decisions = decide_survivors([_score(i, rs) for i, rs in enumerate(first_per)], keep_fraction)
    survivors = [d.index for d in decisions if d.kept]
    single_kept = [
        d.index
        for d in decide_survivors(
            [_score(i, rs[:1]) for i, rs in enumerate(first_per)], keep_fraction
        )
        if d.kept
    ]

    second: list[TrainJob] = []
    second_owner: list[int] = []
    for i in survivors:
        for s in range(n):
            g = i * n + s
            second.append(grid[g].model_copy(update={
                "resume_from": first[g].checkpoint,
                "n_checkpoints": max(1, grid[g].n_checkpoints - first_grid[g].n_checkpoints),
            }))  # fmt: skip
            second_owner.append(g)
    done = executor.map(second, on_result=fwd(on_result, second_owner),
                        on_progress=fwd(on_progress, second_owner))  # fmt: skip
    last = list(first)
    for g, r in zip(second_owner, done, strict=True):
        last[g] = r
    per_seed = [last[i * n : (i + 1) * n] for i in range(k)]
    by_mean = rank_candidates([_score(i, per_seed[i]) for i in survivors])
    by_first = rank_candidates([_score(i, per_seed[i][:1]) for i in single_kept if i in survivors])
    halving = HalvingResult(
        results=[_mean_result(rs) for rs in per_seed],
        first_rung=[_mean_result(rs) for rs in first_per],
        survivors=survivors,
        steps_spent=sum(r.steps_this_run for r in first) + sum(r.steps_this_run for r in done),
        steps_if_all_full=sum(full) * n,
        decisions=decisions,
        rung_steps=rung[0],
        rule=MULTI_SEED_RULE.format(n=n),
    )
    choice = SeedChoice(
        survivors_single_seed=single_kept,
        survivors=survivors,
        best_single_seed=by_first[0] if by_first else None,
        best=by_mean[0] if by_mean else None,
    )
    return SeededHalving(halving=halving, per_seed=per_seed, seeds=seeds, choice=choice)


def _score(index: int, results: Sequence[TrainResult]) -> RungScore:
    """One score from a candidate's seeds: the mean fitness (None when a seed failed), and a
    standard error that holds both the spread between seeds and each evaluation's own."""
    ok = [r for r in results if r.status == "ok" and r.fitness is not None]
    if len(ok) < len(results) or not ok:
        return RungScore(index=index, fitness=None)
    values = [float(r.fitness) for r in ok]  # type: ignore[arg-type]
    episode_se = [standard_error(r.fitness_episodes) or 0.0 for r in ok]
    between = statistics.stdev(values) if len(values) > 1 else 0.0
    se = math.sqrt(between**2 / len(values) + sum(e**2 for e in episode_se) / len(values) ** 2)
    envs = [r.env_return for r in ok if r.env_return is not None]
    return RungScore(
        index=index, fitness=statistics.fmean(values),
        progress=statistics.fmean(learning_progress(r.curve) for r in ok),
        env_return=statistics.fmean(envs) if envs else None,
        fitness_se=se if (len(values) > 1 or any(episode_se)) else None,
    )  # fmt: skip


def _mean_result(results: Sequence[TrainResult]) -> TrainResult:
    """The run seed's result with fitness and env return averaged over the seeds (a failed
    seed fails the candidate: the reward did not train everywhere)."""
    head = results[0]
    failed = next((r for r in results if r.status != "ok"), None)
    if failed is not None and failed is not head:
        return head.model_copy(update={
            "status": failed.status, "fitness": None,
            "reason": f"seed {_seed_of(failed)}: {failed.reason or 'training failed'}",
        })  # fmt: skip
    if head.status != "ok":
        return head
    fits = [r.fitness for r in results if r.fitness is not None]
    envs = [r.env_return for r in results if r.env_return is not None]
    return head.model_copy(update={
        "fitness": statistics.fmean(fits) if fits else None,
        "env_return": statistics.fmean(envs) if envs else head.env_return,
    })  # fmt: skip


def _seed_of(result: TrainResult) -> str:
    name = Path(result.out_dir or "").name
    return name.removeprefix("seed_") if name.startswith("seed_") else "(the run's)"
