"""The limits of a candidate's containers: training (time for the training itself, CPU time
scaled by its threads), evaluation (the same without the reward watchdog) and reward terms."""

from __future__ import annotations

from typing import Any

from autoreward.sandbox.worker import Limits
from autoreward.train.job import TrainJob


def training_limits(job: TrainJob, wall_seconds: float | None = None) -> Limits:
    """Worker limits for a training job: the sandbox defaults (an address-space limit below
    physical memory, the per-reward-call watchdog), with time for the training itself (CPU
    time counts every thread, so it scales with torch_threads)."""
    base = Limits()
    wall = wall_seconds if wall_seconds is not None else max(base.wall_seconds, 6 * 3600)
    update: dict[str, Any] = {
        "wall_seconds": wall,
        "cpu_seconds": int(max(base.cpu_seconds, wall * (job.torch_threads + 1))),
        "max_processes": max(base.max_processes, 64 + (job.n_envs or 1)),
    }
    if job.device != "cpu":
        # CUDA reserves far more virtual address space than it uses: RLIMIT_AS cannot bite
        # there (the worker limits RLIMIT_DATA instead), and the device nodes are bound in.
        update["gpu"] = True
    return base.model_copy(update=update)


def evaluation_limits(training: Limits) -> Limits:
    """The evaluation container: the training job's limits (it runs the same policy and env;
    there is no reward code in it, so no per-call watchdog)."""
    return training.model_copy(update={"reward_call_seconds": 0.0})


def terms_limits() -> Limits:
    """The container computing a reward's components on stored evaluation episodes."""
    return Limits(
        cpu_seconds=300, address_space_mb=4096, file_size_mb=256, max_processes=32,
        wall_seconds=300, reward_call_seconds=30.0, reward_call_unit="call",
    )  # fmt: skip
