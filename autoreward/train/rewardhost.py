"""The parent's side of the reward process: start it in its own container beside a training
job, hand each side its end of a socket pair, and end it when the learner is done.

The reward container gets the reward code and the names of the schema's public state fields,
nothing else of the job (no fitness, no schema, no folder): no writable bind at all, only its
private `/tmp`, its output discarded and its result never read (`run_isolated(...,
writable=False)`). The parent keeps no copy of the reward's end once the container holds it, so
the learner sees the end of the connection at once if the reward process dies.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from autoreward.train.job import TrainJob
from autoreward.train.limits import reward_process_limits
from autoreward.train.rewardlink import RewardLink
from autoreward.train.runner import load_job_schema, reward_sha256

if TYPE_CHECKING:
    from autoreward.sandbox.worker import Limits, WorkerResult

START_WAIT_S = 60.0
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""A batched numpy reward needs no thread pool (and the learner has the other cores)."""


def reward_payload(job: TrainJob, fd: int) -> dict[str, Any]:
    """Everything the reward process receives: the code, the public field names, its socket."""
    schema = load_job_schema(job)
    return {
        "code": job.reward_code,
        "fields": [f.name for f in schema.fields if not f.hidden],
        "fd": fd,
    }


class RewardProcess:
    """`with RewardProcess(job, limits, target) as reward:` run the learner with
    `reward.link` in its payload and `reward.fds` passed to its container."""

    def __init__(self, job: TrainJob, limits: Limits, target: str) -> None:
        self.job, self.limits, self.target = job, limits, target
        self.result: WorkerResult | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._learner: socket.socket | None = None
        self._reward: socket.socket | None = None

    def __enter__(self) -> RewardProcess:
        self._learner, self._reward = socket.socketpair()
        for end in (self._learner, self._reward):
            _large_buffers(end)
        payload = reward_payload(self.job, self._reward.fileno())
        schema_fields = payload["fields"]
        self.link = RewardLink(
            fd=self._learner.fileno(),
            call_seconds=self.limits.reward_call_seconds,
            share_limit=self.limits.reward_share_limit,
            warmup_seconds=self.limits.reward_share_warmup_seconds,
            reward_sha256=reward_sha256(self.job.reward_code),
            fields=schema_fields,
        )
        self.fds = (self._learner.fileno(),)
        self._thread = threading.Thread(target=self._serve, args=(payload,), daemon=True)
        self._thread.start()
        self._started.wait(START_WAIT_S)
        self._reward.close()  # the container holds its own copy now
        return self

    def _serve(self, payload: dict[str, Any]) -> None:
        from autoreward.sandbox.container import env_modules
        from autoreward.sandbox.worker import run_isolated

        try:
            self.result = run_isolated(
                self.target, payload, reward_process_limits(self.limits),
                modules=env_modules(self.job.env_id), env=ONE_THREAD, pass_fds=(payload["fd"],),
                writable=False,
                stop=self._stop, started=self._started,
            )  # fmt: skip
        finally:
            self._started.set()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for end in (self._learner, self._reward):
            if end is not None:
                end.close()


def _large_buffers(sock: socket.socket, size: int = 8 << 20) -> None:
    """Room for a whole request of thousands of worlds (MBs) in the socket, so a send is one
    copy instead of many hand-overs between the two processes (capped by the kernel's
    `net.core.wmem_max`)."""
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError:
            pass
