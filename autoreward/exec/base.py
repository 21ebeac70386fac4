"""The executor interface, and running one training job inside the isolated worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from autoreward.store.atomic import atomic_write_json
from autoreward.train.job import CurvePoint, TrainJob, TrainResult

if TYPE_CHECKING:
    from autoreward.sandbox.worker import Limits


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


def run_job_isolated(
    job: TrainJob, limits: Limits | None = None, prior_curve: list[CurvePoint] | None = None
) -> TrainResult:
    """Train and evaluate `job` in its containers (`train/pipeline.py`); any worker failure
    becomes a failed result with a `train.json` saying so."""
    from autoreward.train.pipeline import run_pipeline

    try:
        return run_pipeline(job, limits, prior_curve=prior_curve)
    except Exception as err:  # a bug around one job must not lose the others
        return _record_failure(job, f"pipeline error: {type(err).__name__}: {err}")


def _record_failure(job: TrainJob, reason: str, **extra: Any) -> TrainResult:
    progress = read_progress(job)
    result = TrainResult.failure(job, reason, steps=int(progress.get("steps") or 0), **extra)
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "train.json", result.model_dump(mode="json"))
    return result


def read_progress(job: TrainJob) -> dict[str, Any]:
    """The job's latest `progress.json` from its training container ({} before it exists, or
    when it is not a small JSON object of plain values: it is untrusted)."""
    from autoreward.sandbox.untrusted import UntrustedDataError, read_json

    try:
        data = read_json(Path(job.out_dir) / "train" / "progress.json", 64 * 1024)
    except UntrustedDataError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, (int, float, str, type(None)))}
