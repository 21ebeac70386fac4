"""The executor interface, and running one training job inside the isolated worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from autoreward.store.atomic import atomic_write_json
from autoreward.train.job import TrainJob, TrainResult

if TYPE_CHECKING:
    from autoreward.sandbox.worker import Limits

TRAIN_TARGET = "autoreward.train.trainer:run_train_job"

ResultFn = Callable[[int, TrainResult], None]
"""on_result(job_index, result): called once per job as soon as it finishes."""
ProgressFn = Callable[[int, dict[str, Any]], None]
"""on_progress(job_index, progress): the job's latest `progress.json` while it runs."""


class Executor(Protocol):
    """Runs training jobs, each in its own isolated worker; results come back in job order.

    A job that fails, crashes or times out yields `TrainResult(status="failed", reason=...)`
    and never stops the others.
    """

    def map(
        self,
        jobs: Sequence[TrainJob],
        on_result: ResultFn | None = None,
        on_progress: ProgressFn | None = None,
    ) -> list[TrainResult]: ...


def training_limits(job: TrainJob, wall_seconds: float | None = None) -> Limits:
    """Worker limits for a training job: the sandbox defaults, with room for torch and time
    for the training itself (CPU time counts every thread, so it scales with torch_threads)."""
    from autoreward.sandbox.worker import Limits

    base = Limits()
    wall = wall_seconds if wall_seconds is not None else max(base.wall_seconds, 6 * 3600)
    # CUDA reserves far more virtual address space than it uses; RLIMIT_AS must not bite there.
    address_mb = 32 * 1024 if job.device == "cpu" else 1024 * 1024
    return base.model_copy(
        update={
            "wall_seconds": wall,
            "cpu_seconds": int(max(base.cpu_seconds, wall * (job.torch_threads + 1))),
            "address_space_mb": max(base.address_space_mb, address_mb),
            "max_processes": max(base.max_processes, 64 + (job.n_envs or 1)),
        }
    )


def run_job_isolated(job: TrainJob, limits: Limits | None = None) -> TrainResult:
    """Train `job` in an isolated worker; any worker failure becomes a failed result (and a
    `train.json` saying so, since the worker could not write one)."""
    from autoreward.sandbox.worker import run_isolated

    out = Path(job.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The worker's cwd is `out`: a relative out_dir (e.g. under the default `--out runs`) would
    # otherwise be resolved a second time inside it.
    job = job.model_copy(update={"out_dir": str(out)})
    try:
        outcome = run_isolated(
            TRAIN_TARGET, job.model_dump(mode="json"), limits or training_limits(job), workdir=out
        )
    except Exception as err:  # the worker could not even start
        return _record_failure(job, f"worker did not start: {type(err).__name__}: {err}")
    if outcome.ok and outcome.value is not None:
        try:
            return TrainResult.model_validate(outcome.value)
        except ValueError as err:
            return _record_failure(job, f"worker returned a malformed result: {err}")
    reason = (
        f"worker {outcome.status}: {outcome.reason}"
        if outcome.reason
        else f"worker {outcome.status}"
    )
    return _record_failure(job, reason, wall_s=outcome.wall_s)


def _record_failure(job: TrainJob, reason: str, **extra: Any) -> TrainResult:
    progress = _read_progress(Path(job.out_dir) / "progress.json")
    result = TrainResult.failure(job, reason, steps=int(progress.get("steps") or 0), **extra)
    atomic_write_json(Path(job.out_dir) / "train.json", result.model_dump(mode="json"))
    return result


def _read_progress(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_progress(job: TrainJob) -> dict[str, Any]:
    """The job's latest `progress.json` ({} before it exists)."""
    return _read_progress(Path(job.out_dir) / "progress.json")
