"""What every trainer's run keeps from start to finish, so that a failure at any point can
report what was done: the job, the reward process link, the reward's hash, the timings, the
saved policies and the setup the run resolved."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autoreward.train.job import TrainJob


class RunState:
    """The state both trainers share; each backend's run adds its own."""

    def __init__(
        self, job: TrainJob, started: float | None, link: dict[str, Any] | None = None
    ) -> None:
        self.job = job
        self.link = link
        self.reward_fn: Any = None
        self.reward_sha: str | None = None
        self.out: Path = job.path
        self.started = started or time.time()
        self.venv: Any = None
        self.policies: list[int] = []
        self.final_policy = False
        self.start_step = 0
        self.prior_train_s = 0.0
        self.startup_s = 0.0
        self.learn_s = 0.0
        self.learn_cpu_s = 0.0
        self.total_steps = job.total_steps or 0
        self.setup: dict[str, Any] = {}
        self.device: str | None = None
