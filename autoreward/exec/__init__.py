"""Executors: run training jobs in isolated workers, locally (default) or on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from autoreward.errors import ConfigError
from autoreward.exec.base import Executor, run_job_isolated
from autoreward.exec.local import LocalExecutor
from autoreward.train.limits import training_limits

if TYPE_CHECKING:
    from autoreward.sandbox.worker import Limits

__all__ = [
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "make_executor",
    "run_job_isolated",
    "training_limits",
]


def make_executor(
    kind: Literal["local", "ray"] | str = "local",
    workers: int | None = None,
    address: str | None = None,
    limits: Limits | None = None,
) -> Executor:
    """`local` (a process per job on this machine) or `ray` (`address=None`: a local Ray)."""
    if kind == "local":
        return LocalExecutor(workers=workers, limits=limits)
    if kind == "ray":
        from autoreward.exec.ray_exec import RayExecutor

        return RayExecutor(address=address, workers=workers, limits=limits)
    raise ConfigError(f"unknown executor '{kind}'", hint="use 'local' or 'ray'")


def __getattr__(name: str) -> object:
    if name == "RayExecutor":  # lazy: importing ray is slow and optional
        from autoreward.exec.ray_exec import RayExecutor

        return RayExecutor
    raise AttributeError(name)
