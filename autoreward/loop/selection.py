"""Choosing the best reward from a multi-seed estimate, not from the maximum of single seeds.

Every candidate's fitness during the iterations comes from one training seed, and the best of
many single-seed values is biased upward (the winner is partly the luckiest). At the end of a
run the top `final_candidates` rewards by single-seed fitness are each retrained from scratch
on the same `final_seeds` fresh seeds (through the run's executor, all at once); the one with
the highest mean over those seeds is the run's best, reported as mean ± standard deviation.
The screening seed is left out of the estimate: it is the seed that selected the candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoreward.loop.candidates import ResumableExecutor, TrainPlan, summarize_seeds
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir
from autoreward.train.job import TrainResult

EventFn = Callable[..., None]
SELECTION_RULE = (
    "the top {k} candidates by screening fitness (their mean over the selection seeds), each "
    "retrained on the same {n} fresh seeds; the highest mean wins (ties: the higher screening "
    "fitness)"
)


def top_candidates(history: list[CandidateRecord], k: int) -> list[CandidateRecord]:
    """The `k` best fully trained candidates by single-seed fitness (more steps, then the
    earlier iteration, first on ties)."""
    trained = [r for r in history if r.status == "trained" and r.fitness is not None]
    trained.sort(key=lambda r: (r.fitness, r.steps, -r.iteration, -r.index), reverse=True)
    return trained[:k]


def final_seeds(plan: TrainPlan, n: int) -> list[int]:
    return [plan.seed + 1000 * (s + 1) for s in range(n)]


def seeds_dir(run: RunDir, rec: CandidateRecord) -> Path:
    return run.best_dir / "final" / f"iter_{rec.iteration}_cand_{rec.index}"


def select_best(
    executor: Any,
    plan: TrainPlan,
    run: RunDir,
    history: list[CandidateRecord],
    *,
    n_candidates: int,
    n_seeds: int,
    on_event: EventFn,
) -> tuple[CandidateRecord, dict[str, Any]] | None:
    """Retrain the top candidates on `n_seeds` seeds and pick the best mean. Returns the chosen
    record and the `final.json` document (its top level describes the chosen candidate, as
    before; `candidates` holds every estimate). None when nothing trained."""
    top = top_candidates(history, n_candidates)
    if not top:
        return None
    seeds = final_seeds(plan, n_seeds)
    jobs, owners = [], []
    for k, rec in enumerate(top):
        code = (run.cand_dir(rec.iteration, rec.index) / "reward.py").read_text(encoding="utf-8")
        for s in seeds:
            jobs.append(plan.job(seeds_dir(run, rec) / f"seed_{s}", code,
                                 label=f"final {rec.key} seed {s}", seed=s))  # fmt: skip
            owners.append(k)

    def on_progress(i: int, info: dict[str, Any]) -> None:
        rec = top[owners[i]]
        on_event("progress", candidate=f"{rec.key} seed {jobs[i].seed}", steps=info.get("steps", 0),
                 total_steps=info.get("total_steps", 0), fitness=info.get("fitness"))  # fmt: skip

    results = ResumableExecutor(executor).map(jobs, on_progress=on_progress)
    estimates = []
    for k, rec in enumerate(top):
        mine: list[TrainResult] = [r for r, o in zip(results, owners, strict=True) if o == k]
        est = summarize_seeds(seeds, mine)
        est.update(iteration=rec.iteration, index=rec.index, screening_fitness=rec.fitness)
        estimates.append(est)
    chosen = choose(estimates)
    rec = top[estimates.index(chosen)]
    doc = {
        **chosen,
        "candidates": estimates,
        "rule": SELECTION_RULE.format(k=len(top), n=n_seeds),
        "changed_best": (rec.iteration, rec.index) != (top[0].iteration, top[0].index),
    }
    return rec, doc


def choose(estimates: list[dict[str, Any]]) -> dict[str, Any]:
    """The estimate with the highest mean over its seeds (one with no successful seed ranks
    last); ties go to the higher single-seed fitness, then to the earlier in the list."""

    def key(e: dict[str, Any]) -> tuple[float, float]:
        mean = e.get("mean")
        return (
            float("-inf") if mean is None else float(mean),
            float(e.get("screening_fitness") or 0.0),
        )

    best = estimates[0]
    for e in estimates[1:]:
        if key(e) > key(best):
            best = e
    return best


def same_candidates(final: dict[str, Any] | None, top: list[CandidateRecord], n_seeds: int) -> bool:
    """Whether a saved `final.json` already estimates exactly these candidates on these seeds."""
    if not final or "candidates" not in final:
        return False
    saved = [(c.get("iteration"), c.get("index")) for c in final["candidates"]]
    seeds_ok = all(len(c.get("per_seed") or []) == n_seeds for c in final["candidates"])
    return saved == [(r.iteration, r.index) for r in top] and seeds_ok
