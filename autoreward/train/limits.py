"""The limits of a candidate's containers: training (time for the training itself, CPU time
scaled by its threads), the reward process beside it, evaluation (the same without the
reward watchdog) and reward terms.

`AUTOREWARD_REWARD_SHARE` (a fraction, e.g. `0.5`; `0` turns it off) sets the largest share of
a training job's time its reward may take (`Limits.reward_share_limit`).
"""

from __future__ import annotations

import os
from typing import Any

from autoreward.errors import ConfigError
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
    share = os.environ.get(SHARE_VAR, "").strip()
    if share:
        update["reward_share_limit"] = _share(share)
    return base.model_copy(update=update)


SHARE_VAR = "AUTOREWARD_REWARD_SHARE"


def _share(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ConfigError(
            f"{SHARE_VAR}={text!r}: expected a fraction between 0 and 1 (or a percentage)",
            hint=f"e.g. {SHARE_VAR}=0.5 (the reward may take half the training time; 0: no limit)",
        )
    return value


def reward_process_limits(training: Limits) -> Limits:
    """The reward process beside a training job: its wall time, memory and processes (the
    process limit counts every process of the sandbox uid), no GPU, and no watchdog of its own
    (the learner times every call from its side). Its wall limit outlasts the learner's, so
    a learner that runs out of time is reported as such, not as a reward process that ended
    (the parent stops the reward process as soon as the learner ends)."""
    return training.model_copy(
        update={
            "reward_call_seconds": 0.0,
            "gpu": False,
            "file_size_mb": 16,
            "wall_seconds": training.wall_seconds + REWARD_PROCESS_GRACE_S,
        }
    )


REWARD_PROCESS_GRACE_S = 60.0


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
