"""The limits of one worker job and how it ended: `Limits`, `WorkerResult` (`worker.py` runs
jobs with them; `spawn.py` classifies how a job ended)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from autoreward.sandbox.untrusted import UntrustedStr

Status = Literal["ok", "error", "timeout", "killed", "memory", "crashed"]


def physical_memory_mb() -> int:
    """This machine's RAM in MiB (from /proc/meminfo; 8 GiB when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 8192


def default_memory_mb() -> int:
    """The default address-space limit of a training job: below physical memory (60% of
    RAM, at most 16 GiB, at least 3 GiB), so a reward that grows without bound fails with
    MemoryError instead of taking the machine down."""
    return max(3072, min(16384, int(physical_memory_mb() * 0.6)))


class Limits(BaseModel):
    """Resource limits of one worker job. The defaults suit a training job."""

    cpu_seconds: int = Field(default=4 * 3600, gt=0, description="CPU time (RLIMIT_CPU).")
    address_space_mb: int = Field(
        default_factory=default_memory_mb,
        gt=0,
        description="Virtual memory (RLIMIT_AS; RLIMIT_DATA for GPU jobs, whose drivers "
        "reserve far more address space than they use).",
    )
    file_size_mb: int = Field(default=1024, gt=0, description="Largest file it may write.")
    disk_quota_mb: int = Field(
        default=4096,
        gt=0,
        description="Total disk its writable folders may hold; more stops the job (quota.py).",
    )
    max_processes: int = Field(
        default=256, gt=0, description="Processes/threads it may start (RLIMIT_NPROC)."
    )
    wall_seconds: float = Field(default=4 * 3600, gt=0, description="Wall-clock timeout.")
    network: bool = Field(default=False, description="Allow network access.")
    reward_call_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Longest one reward call may run before the watchdog ends the job (0: off).",
    )
    reward_call_unit: Literal["step", "call"] = Field(
        default="step", description="What the watchdog's count means: env steps or reward calls."
    )
    gpu: bool = Field(default=False, description="Bind the GPU device nodes into the container.")
    reward_share_limit: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Largest share of a training job's time its reward may take, measured by "
        "the learner after the warm-up (0: off).",
    )
    reward_share_warmup_seconds: float = Field(
        default=10.0, ge=0, description="Training seconds before the reward's share is judged."
    )

    @classmethod
    def dry_run(cls) -> Limits:
        """Limits for a reward dry run: a real env, a few hundred reward calls."""
        return cls(
            cpu_seconds=60,
            address_space_mb=3072,
            file_size_mb=64,
            disk_quota_mb=256,
            max_processes=64,
            wall_seconds=120,
            reward_call_seconds=7.0,
        )


class WorkerResult(BaseModel):
    """How a worker job ended. `value` is the target's returned dict when `ok`."""

    ok: bool
    status: Status
    reason: UntrustedStr = ""
    value: dict[str, Any] | None = None
    wall_s: float = 0.0
    stderr_tail: str = Field(default="", description="Last lines of the child's stdout+stderr.")
    traceback: str = ""
    isolation: str = Field(default="", description="Isolation mode the job ran under.")
