"""The job runner both training backends share: one attempt of a job (torch threads, its
folder, every failure as an outcome, the final `progress.json`), the job's schema, and the
one place reward code is loaded and hashed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from autoreward.errors import AutorewardError
from autoreward.store.atomic import atomic_write_json
from autoreward.train.job import TrainJob, TrainOutcome


class JobAttempt(Protocol):
    """One backend's training run of a job (`sb3/trainer.py`'s `_Run`, `rslrl/trainer.py`'s
    `_WarpRun`)."""

    def execute(self) -> TrainOutcome: ...

    def failed(self, reason: str) -> TrainOutcome: ...

    def close(self) -> None: ...


def run_attempt(job: TrainJob, make: Callable[[], JobAttempt]) -> TrainOutcome:
    """Run one job on any backend: torch threads, its folder, every failure as an outcome (a
    bad candidate must never take the caller down), and the final `progress.json`."""
    import torch

    torch.set_num_threads(job.torch_threads)
    job.path.mkdir(parents=True, exist_ok=True)
    run = make()
    try:
        outcome = run.execute()
    except AutorewardError as err:
        outcome = run.failed(str(err))
    except Exception as err:
        outcome = run.failed(f"{type(err).__name__}: {err}")
    finally:
        run.close()
    atomic_write_json(
        job.path / "progress.json",
        {
            "label": job.label,
            "status": outcome.status,
            "steps": outcome.steps,
            "total_steps": outcome.total_steps,
            "t": time.time(),
        },
    )
    return outcome


def load_job_schema(job: TrainJob) -> Any:
    """The job's schema: the `schema_data` it carries, else the registry's."""
    from autoreward.envs.registry import load_schema
    from autoreward.envs.schema import EnvSchema

    if job.schema_data is not None:
        return EnvSchema.model_validate(job.schema_data)
    return load_schema(job.env_id)


def load_reward(code: str | None) -> Any:
    """The reward function of `code` (None: the env's own reward), loaded under the watchdog."""
    if code is None:
        return None
    from autoreward.sandbox.loader import load_reward_fn
    from autoreward.sandbox.watchdog import reward_call

    with reward_call(0):  # a module body that never finishes is stopped by the watchdog too
        return load_reward_fn(code)


def reward_sha256(code: str | None) -> str | None:
    """The hash a checkpoint records of the reward that trained it."""
    return None if code is None else hashlib.sha256(code.encode()).hexdigest()
