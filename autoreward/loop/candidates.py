"""Training the screened candidates of an iteration: jobs from the run config, successive
halving through the executor, outcomes written as candidate records (with each candidate's
first-rung outcome against its rivals); and the summary of a reward's final seeds.

Jobs are made idempotent by `ResumableExecutor`: a job whose result is on disk is not run
again, so a killed run resumes without retraining anything that finished — whichever rung of
successive halving it had reached.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from autoreward.config import RunConfig
from autoreward.envs.schema import EnvSchema
from autoreward.loop.seeds import seeded_halving
from autoreward.store.atomic import atomic_write_json, read_json
from autoreward.store.records import CandidateRecord, RungOutcome, RungRival
from autoreward.train.halving import HalvingResult, rung_steps, successive_halving
from autoreward.train.job import Algo, Backend, TrainJob, TrainResult
from autoreward.train.sb3.literal import parse_literal

EventFn = Callable[..., None]


class TrainPlan(BaseModel):
    """How every candidate of a run is trained (resolved once from the config and schema)."""

    env_id: str
    schema_data: dict[str, Any] | None
    algo: Algo
    total_steps: int
    n_envs: int
    seed: int
    eval_episodes: int
    video: bool
    device: Literal["cpu", "cuda", "auto"]
    halving: bool
    rung_fraction: float
    keep_fraction: float
    hyperparams: dict[str, Any] = {}
    budget_note: str = ""
    tensorboard: bool = True
    backend: Backend = "sb3"
    selection_seeds: int = 1
    """Training seeds per candidate of a multi-candidate iteration (loop/seeds.py)."""
    return_normalization: bool = False
    """Generated rewards (jobs with reward code) train with VecNormalize norm_reward."""

    @classmethod
    def from_config(cls, cfg: RunConfig, schema: EnvSchema) -> TrainPlan:
        from autoreward.train.budget import fit_rollout, rung_note
        from autoreward.train.sb3.hyperparams import effective_hyperparams

        # one rollout for every job of the run, fitted to the smallest budget one gets
        total_given = cfg.steps or schema.train.total_steps
        smallest = (
            rung_steps(total_given, cfg.rung_fraction)
            if cfg.halving and cfg.samples > 1
            else total_given
        )
        label = f"the first halving rung ({smallest:,} steps)" if smallest < total_given else ""
        common = dict(
            env_id=cfg.env_id,
            # The schema travels with every job: the worker's container holds no envs/ folder.
            schema_data=schema.model_dump(mode="json"),
            tensorboard=cfg.tensorboard, seed=cfg.seed, eval_episodes=cfg.eval_episodes,
            video=cfg.video, halving=cfg.halving, rung_fraction=cfg.rung_fraction,
            keep_fraction=cfg.keep_fraction, selection_seeds=cfg.selection_seeds,
        )  # fmt: skip
        if cfg.backend != "sb3":
            from autoreward.train.backends import resolve_backend, warp_setup
            from autoreward.train.device import resolve_device

            backend, device = resolve_backend(cfg.backend, schema, resolve_device(cfg.device))
            if backend == "warp":
                warp = warp_setup(
                    schema, algo=cfg.algo, steps=cfg.steps, n_envs=cfg.n_envs,
                    hyperparams=cfg.hyperparams, hyperparams_file=cfg.hyperparams_file,
                    device=device, smallest_budget=smallest, budget_label=label,
                )  # fmt: skip
                return cls(
                    **common, backend="warp", algo="PPO", total_steps=warp.total_steps,  # type: ignore[arg-type]
                    n_envs=warp.worlds, hyperparams=warp.hyperparams,
                    budget_note=warp.budget_note, device=device,  # type: ignore[arg-type]
                )  # fmt: skip
        algo = cfg.algo if cfg.algo is not None else schema.train.algo
        total, n_envs = total_given, cfg.n_envs or schema.train.n_envs
        hyperparams = effective_hyperparams(
            schema.train.hyperparams, schema.train.algo, algo, cfg.hyperparams,
            use_schema=cfg.hyperparams_file is None,
        )  # fmt: skip
        hyperparams, fit = fit_rollout(algo, hyperparams, n_envs, smallest, label)
        note = fit.note if fit.notable or fit.trained_steps(total) != total else ""
        if note and smallest < total and fit.rollout:
            note += f"; the full budget of {total:,} trains {fit.trained_steps(total):,}"
        if smallest < total and (few := rung_note(fit)):
            note = f"{note}; {few}" if note else few
        on = next((v for v in (cfg.normalize, schema.train.normalize) if v is not None), True)
        return cls(
            **common, algo=algo, total_steps=total, n_envs=n_envs,  # type: ignore[arg-type]
            hyperparams=hyperparams, budget_note=note, device=cfg.device,
            return_normalization=on,
        )  # fmt: skip

    def reward_hyperparams(self) -> dict[str, Any]:
        """The hyperparameters a generated reward trains with: the plan's, with return
        normalization switched on or off as the run says (`with_return_normalization`)."""
        if self.backend != "sb3":
            return self.hyperparams
        return with_return_normalization(self.hyperparams, self.return_normalization)

    def job(
        self, out_dir: Path, code: str | None, *, label: str, seed: int | None = None
    ) -> TrainJob:
        return TrainJob(
            env_id=self.env_id, out_dir=str(out_dir), reward_code=code, schema_data=self.schema_data,
            algo=self.algo, total_steps=self.total_steps, n_envs=self.n_envs,
            seed=self.seed if seed is None else seed, eval_episodes=self.eval_episodes,
            video=self.video, device=self.device, label=label,
            hyperparams=self.hyperparams if code is None else self.reward_hyperparams(),
            schema_hyperparams=False, tensorboard=self.tensorboard, budget_note=self.budget_note,
            backend=self.backend,
        )  # fmt: skip


def with_return_normalization(hyperparams: dict[str, Any], on: bool) -> dict[str, Any]:
    """`hyperparams` with VecNormalize's `norm_reward` set (`on`) or cleared, everything else
    kept: observation normalization stays as the hyperparameters asked (off when they did not),
    and an explicit `norm_reward` in a `normalize` mapping wins over the default."""
    normalize = hyperparams.get("normalize", False)
    if isinstance(normalize, str):  # RL Zoo's spelling: "dict(norm_obs=True, norm_reward=False)"
        normalize = parse_literal(normalize, "normalize")
    if isinstance(normalize, dict):
        norm = {**normalize, "norm_reward": normalize.get("norm_reward", True) if on else False}
    elif normalize is True:
        norm = {} if on else {"norm_reward": False}
    elif on:
        norm = {"norm_obs": False, "norm_reward": True}
    else:
        return hyperparams
    return {**hyperparams, "normalize": norm}


class ResumableExecutor:
    """Wraps an executor: results of finished jobs are kept under `<out_dir>/jobs/<key>.json`
    and returned instead of training again."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @staticmethod
    def _path(job: TrainJob) -> Path:
        # the default backend is left out, so the keys of runs made before it existed hold
        exclude = {"label", "progress_every_s"} | ({"backend"} if job.backend == "sb3" else set())
        spec = job.model_dump_json(exclude=exclude)
        key = hashlib.sha256(spec.encode()).hexdigest()[:16]
        return Path(job.out_dir) / "jobs" / f"{key}.json"

    def map(
        self,
        jobs: Sequence[TrainJob],
        on_result: Callable[[int, TrainResult], None] | None = None,
        on_progress: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> list[TrainResult]:
        results: list[TrainResult | None] = []
        todo: list[int] = []
        for i, job in enumerate(jobs):
            saved = read_json(self._path(job))
            results.append(None if saved is None else TrainResult.model_validate(saved))
            if saved is None:
                todo.append(i)
            elif on_result is not None:
                on_result(i, results[i])  # type: ignore[arg-type]

        def done(k: int, result: TrainResult) -> None:
            atomic_write_json(self._path(jobs[todo[k]]), result.model_dump(mode="json"))
            if on_result is not None:
                on_result(todo[k], result)

        def progress(k: int, info: dict[str, Any]) -> None:
            if on_progress is not None:
                on_progress(todo[k], info)

        if todo:
            fresh = self.inner.map([jobs[i] for i in todo], on_result=done, on_progress=progress)
            for k, result in enumerate(fresh):
                results[todo[k]] = result
                if not self._path(jobs[todo[k]]).exists():
                    atomic_write_json(self._path(jobs[todo[k]]), result.model_dump(mode="json"))
        return [r for r in results if r is not None]


def train_candidates(
    executor: Any,
    plan: TrainPlan,
    cand_dirs: dict[int, Path],
    codes: dict[int, str],
    iteration: int,
    on_event: EventFn,
) -> list[CandidateRecord]:
    """Train (with successive halving) and evaluate the candidates; return their records."""
    order = sorted(codes)
    if not order:
        return []
    jobs = [plan.job(cand_dirs[j], codes[j], label=f"iter {iteration} cand {j}") for j in order]
    runner = ResumableExecutor(executor)

    def on_progress(k: int, info: dict[str, Any]) -> None:
        on_event("progress", iteration=iteration, candidate=order[k], steps=info.get("steps", 0),
                 total_steps=info.get("total_steps", 0), fitness=info.get("fitness"))  # fmt: skip

    def on_result(k: int, result: TrainResult) -> None:
        on_event("candidate", iteration=iteration, candidate=order[k],
                 state="done" if result.status == "ok" else "failed",
                 fitness=result.fitness, steps=result.steps, reason=result.reason or "")  # fmt: skip

    per_seed: list[list[TrainResult]] = []
    if plan.selection_seeds > 1 and len(jobs) > 1:
        seeded = seeded_halving(
            runner, jobs, plan.selection_seeds,
            rung_fraction=plan.rung_fraction if plan.halving else 1.0,
            keep_fraction=plan.keep_fraction, on_result=on_result, on_progress=on_progress,
        )  # fmt: skip
        halving, per_seed = seeded.halving, seeded.per_seed
        results, survivors = halving.results, set(halving.survivors)
        rungs = rung_outcomes(halving, order) if halving.decisions else {}
        c = seeded.choice
        on_event("halving", iteration=iteration, steps_spent=halving.steps_spent,
                 steps_if_all_full=halving.steps_if_all_full, saved_fraction=halving.saved_fraction,
                 rung_steps=halving.rung_steps, rule=halving.rule, seeds=seeded.seeds,
                 decisions=[{**d.model_dump(), "candidate": order[d.index]} for d in halving.decisions],
                 survivors=[order[i] for i in c.survivors],
                 survivors_single_seed=[order[i] for i in c.survivors_single_seed],
                 best=None if c.best is None else order[c.best],
                 best_single_seed=None if c.best_single_seed is None else order[c.best_single_seed],
                 single_seed_differs=c.changed)  # fmt: skip
    elif plan.halving and len(jobs) > 1:
        halving = successive_halving(
            runner,
            jobs,
            rung_fraction=plan.rung_fraction,
            keep_fraction=plan.keep_fraction,
            on_result=on_result,
            on_progress=on_progress,
        )
        results, survivors = halving.results, set(halving.survivors)
        rungs = rung_outcomes(halving, order)
        on_event("halving", iteration=iteration, steps_spent=halving.steps_spent,
                 steps_if_all_full=halving.steps_if_all_full, saved_fraction=halving.saved_fraction,
                 rung_steps=halving.rung_steps, rule=halving.rule,
                 decisions=[{**d.model_dump(), "candidate": order[d.index]} for d in halving.decisions])  # fmt: skip
    else:
        results, survivors = (
            runner.map(jobs, on_result=on_result, on_progress=on_progress),
            set(range(len(jobs))),
        )
        rungs = {}

    records = []
    for k, (j, result) in enumerate(zip(order, results, strict=True)):
        d = cand_dirs[j]
        screened = read_json(d / "screen.json") or {
            "iteration": iteration,
            "index": j,
            "status": "trained",
        }
        rec = CandidateRecord.model_validate({**screened, "iteration": iteration, "index": j})
        rec.steps, rec.fitness, rec.env_return = result.steps, result.fitness, result.env_return
        rec.rung = rungs.get(j)
        if per_seed:
            rec.seed_fitness = [r.fitness if r.status == "ok" else None for r in per_seed[k]]
        if result.status != "ok":
            rec.status, rec.reason, rec.fitness = (
                "failed_train",
                result.reason or "training failed",
                None,
            )
        elif k not in survivors:
            rec.status = "pruned"
            why = rec.rung.why.removeprefix("pruned: ") if rec.rung else ""
            rec.reason = f"successive halving: stopped at rung 1 ({result.steps:,} steps)" + (
                f": {why}" if why else ""
            )
        else:
            rec.status, rec.reason = "trained", ""
        rec.save(d)
        records.append(rec)
    return records


def rung_outcomes(halving: HalvingResult, order: Sequence[int]) -> dict[int, RungOutcome]:
    """Per candidate index, its first-rung outcome with what every rival scored at that rung."""
    outcomes: dict[int, RungOutcome] = {}
    for d in halving.decisions:
        rivals = [
            RungRival(
                index=order[o.index],
                fitness=o.fitness,
                fitness_se=o.fitness_se,
                env_return=o.env_return,
                kept=o.kept,
            )  # fmt: skip
            for o in halving.decisions
            if o.index != d.index
        ]
        outcomes[order[d.index]] = RungOutcome(
            steps=halving.first_rung[d.index].steps, fitness=d.fitness, fitness_se=d.fitness_se,
            env_return=d.env_return, kept=d.kept, why=d.why, rivals=rivals,
        )  # fmt: skip
    return outcomes


def summarize_seeds(seeds: Sequence[int], results: Sequence[TrainResult]) -> dict[str, Any]:
    values = [r.fitness for r in results if r.status == "ok" and r.fitness is not None]
    return {
        "n_seeds": len(values),
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.pstdev(values) if len(values) > 1 else 0.0 if values else None,
        "per_seed": [
            {
                "seed": s,
                "status": r.status,
                "fitness": r.fitness,
                "env_return": r.env_return,
                "reason": r.reason,
            }  # fmt: skip
            for s, r in zip(seeds, results, strict=True)
        ],
    }
