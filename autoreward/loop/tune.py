"""Coefficient tuning (`--tune N`): Optuna trials over the named weights of the run's best reward.

The best reward's `COEFFICIENTS` literal (see `agents/coefficients.py`) names each weight with
a range. Each trial rewrites only those numbers in the source, and the new reward goes the way
every candidate goes: validation and the sandboxed dry run (`check`), then training in the
run's containers on the run's plan and seed, graded on the task fitness. Optuna's TPE sampler
proposes the values; the pruner is successive halving on the run's own first rung: a trial
trains `rung_fraction` of the budget, reports that fitness, and continues from its checkpoint
only when it is in the better half of the trials at that rung.

The original reward is entered as a finished trial with its known single-seed fitness, so TPE
starts from it and every trial is compared with it on the same seed. The best trial is then
retrained on the run's final seeds, like the candidates picked at the end of the run, and
replaces the run's best only when its mean over those seeds is higher.

Everything is kept in `<run>/tune/`: Optuna's journal (`journal.log`, a file storage, no
database), a folder per tried reward named by its code (so a trial that was cut off is run
again with the same values and finds its finished jobs), and `tune.json` (written atomically
after every trial). A resumed run continues the study where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from autoreward.agents.coefficients import (
    Coefficient,
    CoefficientError,
    parse_coefficients,
    rewrite_coefficients,
)
from autoreward.loop.candidates import ResumableExecutor, TrainPlan, summarize_seeds
from autoreward.loop.selection import final_seeds
from autoreward.store.atomic import atomic_write_json, atomic_write_text, read_json
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir
from autoreward.train.halving import rung_steps
from autoreward.train.job import TrainJob, TrainResult

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
EventFn = Callable[..., None]
CheckFn = Callable[[str], "str | None"]
TUNE_DIR = "tune"
_ORIGINAL = "original"


class TrialRecord(BaseModel):
    """One set of coefficient values and what it trained to."""

    number: int
    params: dict[str, float]
    state: Literal["complete", "pruned", "failed", "original"]
    rung_fitness: float | None = None
    fitness: float | None = None
    steps: int = 0
    reason: str = ""
    folder: str = ""


class TuneRecord(BaseModel):
    """`tune/tune.json`: the study, its trials, and what the best one did on the final seeds."""

    status: Literal["running", "done", "skipped"]
    reason: str = ""
    iteration: int | None = None
    index: int | None = None
    coefficients: list[Coefficient] = []
    n_trials: int = 0
    sampler: str = "TPE"
    pruner: str = ""
    trials: list[TrialRecord] = []
    best: TrialRecord | None = None
    final: dict[str, Any] | None = None
    """The best trial's estimate over the run's final seeds (`summarize_seeds`)."""
    baseline_mean: float | None = None
    """The run's best before tuning, as compared: its final-seed mean (else its single seed)."""
    chosen: bool = False
    """The tuned reward replaced the run's best."""
    steps_spent: int = 0
    wall_s: float = 0.0


def tune_best(
    run: RunDir,
    executor: Any,
    plan: TrainPlan,
    best: CandidateRecord,
    final: dict[str, Any] | None,
    *,
    n_trials: int,
    n_seeds: int,
    seed: int,
    check: CheckFn,
    on_event: EventFn,
) -> TuneRecord:
    """Run (or resume) `n_trials` Optuna trials over `best`'s coefficients; retrain the best
    trial on `n_seeds` final seeds; when it beats `final`'s mean (or, without final seeds, the
    best's single-seed fitness), write it as the run's best reward. Returns `tune.json`."""
    tdir = run.path / TUNE_DIR
    started = time.time()
    src = (run.cand_dir(best.iteration, best.index) / "reward.py").read_text(encoding="utf-8")
    record = TuneRecord(status="running", iteration=best.iteration, index=best.index,
                        n_trials=n_trials)  # fmt: skip
    saved = read_json(tdir / "tune.json")
    if saved and (saved.get("iteration"), saved.get("index")) != (best.iteration, best.index):
        record.reason = "the run's best changed since the last tuning: a new study"
        tdir = _fresh_dir(tdir)
    try:
        coefficients = parse_coefficients(src)
    except CoefficientError as err:
        return _skip(tdir, record, f"the best reward's COEFFICIENTS cannot be tuned: {err}")
    if not coefficients:
        return _skip(tdir, record, "the best reward declares no COEFFICIENTS: nothing to tune")
    record.coefficients = coefficients
    baseline = final.get("mean") if final else None
    record.baseline_mean = best.fitness if baseline is None else float(baseline)

    study, pruner_text = _study(tdir, seed, n_trials, plan.keep_fraction)
    record.pruner = pruner_text
    if not study.trials:
        _add_original(study, coefficients, best)
    _requeue_cut_off(study)
    runner = ResumableExecutor(executor)
    trial_run = _TrialRunner(runner, plan, tdir, src, coefficients, check, on_event)
    remaining = n_trials - sum(1 for t in study.trials if _counts(t))
    on_event("tune_start", iteration=best.iteration, candidate=best.index,
             coefficients=[c.name for c in coefficients], trials=n_trials,
             remaining=max(0, remaining))  # fmt: skip

    earlier_s = float((saved or {}).get("wall_s") or 0.0) if not record.reason else 0.0

    def save(study: optuna.Study, _trial: Any = None) -> None:
        record.trials = [_trial_record(t) for t in study.trials if not _stale(t)]
        record.steps_spent = sum(t.steps for t in record.trials)
        record.wall_s = earlier_s + time.time() - started
        atomic_write_json(tdir / "tune.json", record.model_dump(mode="json"))

    if remaining > 0:
        study.optimize(trial_run, n_trials=remaining, callbacks=[save],
                       catch=(_TrialFailed,), gc_after_trial=False)  # fmt: skip
    save(study)

    tuned = [t for t in record.trials if t.state == "complete" and t.fitness is not None]
    if not tuned:
        record.status, record.reason = "done", "no trial trained to the full budget"
        save(study)
        return record
    record.best = max(tuned, key=lambda t: (t.fitness, -t.number))
    code = rewrite_coefficients(src, record.best.params)
    atomic_write_text(tdir / "best_reward.py", code)
    if n_seeds > 0:
        record.final = _final_seeds(runner, plan, tdir, code, n_seeds, on_event)
        value = record.final.get("mean")
    else:
        value = record.best.fitness
    record.chosen = value is not None and (
        record.baseline_mean is None or float(value) > record.baseline_mean
    )
    if record.chosen:
        atomic_write_text(run.best_dir / "reward.py", code)
    record.status = "done"
    save(study)
    on_event("tune_end", trials=len([t for t in record.trials if t.state != "original"]),
             best_fitness=record.best.fitness, final_mean=value, baseline=record.baseline_mean,
             chosen=record.chosen, steps=record.steps_spent)  # fmt: skip
    return record


# =========================================================================== one trial


class _TrialFailed(Exception):
    """A trial whose reward failed its check or its training (recorded, the study goes on)."""


class _TrialRunner:
    def __init__(
        self,
        runner: ResumableExecutor,
        plan: TrainPlan,
        tdir: Path,
        src: str,
        coefficients: list[Coefficient],
        check: CheckFn,
        on_event: EventFn,
    ) -> None:
        self.runner, self.plan, self.tdir, self.src = runner, plan, tdir, src
        self.coefficients, self.check, self.on_event = coefficients, check, on_event

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        params = {c.name: trial.suggest_float(c.name, c.low, c.high, log=_log_scale(c))
                  for c in self.coefficients}  # fmt: skip
        code = rewrite_coefficients(self.src, params)
        trial.set_user_attr("values", {c.name: c.value for c in parse_coefficients(code)})
        folder = self.tdir / f"trial_{hashlib.sha256(code.encode()).hexdigest()[:12]}"
        trial.set_user_attr("folder", folder.name)
        atomic_write_text(folder / "reward.py", code)
        problem = self.check(code)
        if problem:
            return self._fail(trial, f"the rewritten reward failed its check: {problem[:300]}")
        job = self.plan.job(folder, code, label=f"tune trial {trial.number}")
        steps = 0
        total = int(job.total_steps or 0)
        rung = rung_steps(total, self.plan.rung_fraction) if self.plan.halving else total
        if rung < total:
            fraction = self.plan.rung_fraction
            first = self._train(trial, _rung_job(job, rung, fraction))
            steps += first.steps_this_run
            trial.set_user_attr("steps", steps)
            if first.status != "ok" or first.fitness is None:
                return self._fail(trial, first.reason or "training failed at the rung")
            trial.set_user_attr("rung_fitness", first.fitness)
            trial.report(first.fitness, step=1)
            if trial.should_prune():
                self.on_event("tune_trial", trial=trial.number, params=params, state="pruned",
                              rung_fitness=first.fitness)  # fmt: skip
                raise optuna.TrialPruned()
            job = job.model_copy(update={
                "resume_from": first.checkpoint,
                "n_checkpoints": max(1, job.n_checkpoints - _rung_checkpoints(job, fraction)),
            })  # fmt: skip
        result = self._train(trial, job)
        steps += result.steps_this_run
        trial.set_user_attr("steps", steps)
        if result.status != "ok" or result.fitness is None:
            return self._fail(trial, result.reason or "training failed")
        self.on_event("tune_trial", trial=trial.number, params=params, state="complete",
                      fitness=result.fitness)  # fmt: skip
        return float(result.fitness)

    def _train(self, trial: optuna.Trial, job: TrainJob) -> TrainResult:
        def progress(_i: int, info: dict[str, Any]) -> None:
            self.on_event("progress", candidate=f"tune trial {trial.number}",
                          steps=info.get("steps", 0), total_steps=info.get("total_steps", 0),
                          fitness=info.get("fitness"))  # fmt: skip

        return self.runner.map([job], on_progress=progress)[0]

    def _fail(self, trial: optuna.Trial, reason: str) -> float:
        trial.set_user_attr("reason", reason)
        self.on_event("tune_trial", trial=trial.number, state="failed", reason=reason)
        raise _TrialFailed(reason)


def _rung_checkpoints(job: TrainJob, fraction: float) -> int:
    return max(2, round(job.n_checkpoints * fraction))


def _rung_job(job: TrainJob, steps: int, fraction: float) -> TrainJob:
    """The first-rung part of a trial, as successive halving trains it (no video, no terms)."""
    return job.model_copy(update={
        "total_steps": steps, "n_checkpoints": _rung_checkpoints(job, fraction),
        "video": False, "reward_terms": False,
    })  # fmt: skip


def _final_seeds(
    runner: ResumableExecutor, plan: TrainPlan, tdir: Path, code: str, n: int, on_event: EventFn
) -> dict[str, Any]:
    seeds = final_seeds(plan, n)
    jobs = [plan.job(tdir / "final" / f"seed_{s}", code, label=f"tuned seed {s}", seed=s)
            for s in seeds]  # fmt: skip
    on_event("phase", phase="tuned reward on the final seeds")
    return summarize_seeds(seeds, runner.map(jobs))


# =========================================================================== the study


def _study(tdir: Path, seed: int, n_trials: int, keep_fraction: float) -> tuple[Any, str]:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tdir.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tdir / "journal.log")))
    reduction = max(2, round(1 / keep_fraction))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, n_trials // 2)))
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=reduction)
    study = optuna.create_study(study_name="coefficients", storage=storage, sampler=sampler,
                                pruner=pruner, direction="maximize", load_if_exists=True)  # fmt: skip
    text = (f"successive halving on the run's first rung: a trial continues when it is in the "
            f"best 1/{reduction} of the trials at that rung")  # fmt: skip
    return study, text


def _log_scale(c: Coefficient) -> bool:
    """Weights spanning two decades or more, all positive, are searched on a log scale."""
    return c.low > 0 and c.high / c.low >= 100


def _add_original(study: Any, coefficients: list[Coefficient], best: CandidateRecord) -> None:
    import optuna

    # the trials train on the run seed alone: compare with the original on that seed
    value = best.seed_fitness[0] if best.seed_fitness else best.fitness
    if value is None:
        return
    distributions: dict[str, optuna.distributions.BaseDistribution] = {
        c.name: optuna.distributions.FloatDistribution(c.low, c.high, log=_log_scale(c))
        for c in coefficients
    }
    rung = best.rung.fitness if best.rung is not None else None
    study.add_trial(optuna.trial.create_trial(
        params={c.name: c.value for c in coefficients}, distributions=distributions,
        value=float(value), intermediate_values={} if rung is None else {1: float(rung)},
        user_attrs={_ORIGINAL: True, "steps": 0, "rung_fitness": rung},
    ))  # fmt: skip


def _stale(t: Any) -> bool:
    """A trial a killed run left running (failed here without a reason; asked again)."""
    import optuna

    return t.state == optuna.trial.TrialState.FAIL and not t.user_attrs.get("reason")


def _counts(t: Any) -> bool:
    """A trial that used one of the N: finished (complete, pruned or failed), not the original."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)  # fmt: skip
    return t.state in done and not t.user_attrs.get(_ORIGINAL) and not _stale(t)


def _requeue_cut_off(study: Any) -> None:
    """Trials left running by a killed run: marked stale and asked again with the same values
    (their folders, named by the code, hold whatever jobs had finished)."""
    import optuna

    for t in study.trials:
        if t.state == optuna.trial.TrialState.RUNNING:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            if t.params:
                study.enqueue_trial(t.params, skip_if_exists=False)


def _trial_record(t: Any) -> TrialRecord:
    import optuna

    states = {optuna.trial.TrialState.COMPLETE: "complete",
              optuna.trial.TrialState.PRUNED: "pruned"}  # fmt: skip
    state = _ORIGINAL if t.user_attrs.get(_ORIGINAL) else states.get(t.state, "failed")
    return TrialRecord(
        number=t.number, params=t.user_attrs.get("values") or dict(t.params), state=state,  # type: ignore[arg-type]
        rung_fitness=t.user_attrs.get("rung_fitness"),
        # Optuna gives a pruned trial its last rung value; here fitness is the full run's only
        fitness=t.value if state in ("complete", _ORIGINAL) else None,
        steps=int(t.user_attrs.get("steps") or 0), reason=str(t.user_attrs.get("reason") or ""),
        folder=str(t.user_attrs.get("folder") or ""),
    )  # fmt: skip


def _skip(tdir: Path, record: TuneRecord, reason: str) -> TuneRecord:
    record.status, record.reason = "skipped", reason
    atomic_write_json(tdir / "tune.json", record.model_dump(mode="json"))
    return record


def _fresh_dir(tdir: Path) -> Path:
    """A new study folder when the best reward changed; the old one is kept beside it."""
    k = 1
    while (tdir.parent / f"{TUNE_DIR}.{k}").exists():
        k += 1
    tdir.rename(tdir.parent / f"{TUNE_DIR}.{k}")
    return tdir
