"""`RayExecutor`: training jobs as Ray tasks, on a local Ray or a cluster (`address="auto"`).

Each task still trains inside `run_isolated`, so the sandbox applies on every node. Nodes
need not share a filesystem with the driver: a task gets the checkpoint it resumes from as
bytes, trains in a scratch directory on its node and returns every file it wrote, which the
driver puts into the job's `out_dir`. `on_progress` is not called (progress files live on
the nodes); `on_result` is called as each job finishes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoreward.errors import ConfigError, WorkerError
from autoreward.exec.base import ProgressFn, ResultFn, run_job_isolated
from autoreward.sandbox.safepath import read_tree
from autoreward.store.atomic import atomic_write_bytes, atomic_write_json, read_json
from autoreward.train.job import TrainJob, TrainResult

if TYPE_CHECKING:
    from autoreward.sandbox.worker import Limits

RAY_HINT = "pip install 'autoreward[ray]'"
MAX_SHIPPED_BYTES = 4 * 1024**3
"""A checkpoint or a node's output folder larger than this is not shipped."""

_INIT_LOCK = threading.Lock()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ConfigError(
            "the Ray executor needs the 'ray' package, which is not installed", hint=RAY_HINT
        ) from err
    return ray


class RayExecutor:
    """`address=None` starts a local Ray with `workers` CPUs (default: all cores); `"auto"`
    or `"ray://host:port"` joins a cluster. Each job asks Ray for `job.torch_threads` CPUs."""

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        limits: Limits | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.ray = _import_ray()
        self.address = address
        self.workers = workers
        self.limits = limits
        self.init_kwargs = init_kwargs or {}

    def _ensure_ray(self) -> None:
        with _INIT_LOCK:  # ray.init from two threads at once breaks Ray's control process
            self._init_ray()

    def _init_ray(self) -> None:
        if self.ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address is None:
            kwargs["num_cpus"] = self.workers or os.cpu_count() or 1
        else:
            kwargs["address"] = self.address
        kwargs.update(self.init_kwargs)
        self.ray.init(**kwargs)

    def map(
        self,
        jobs: Sequence[TrainJob],
        on_result: ResultFn | None = None,
        on_progress: ProgressFn | None = None,
    ) -> list[TrainResult]:
        self._ensure_ray()
        ray = self.ray
        task = ray.remote(_train_on_node)
        refs: dict[Any, int] = {}
        for i, job in enumerate(jobs):
            options = {"num_cpus": job.torch_threads, "max_retries": 0}
            refs[
                task.options(**options).remote(
                    job.model_dump(mode="json"), self.limits, _pack_checkpoint(job),
                    _prior_curve(job),
                )
            ] = i  # fmt: skip
        results: list[TrainResult | None] = [None] * len(jobs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = refs[ref]
                try:
                    shipped = ray.get(ref)
                    result = _unpack(jobs[i], shipped)
                except Exception as err:  # task crashed, node lost, ...
                    result = TrainResult.failure(
                        jobs[i], f"ray task failed: {type(err).__name__}: {err}"
                    )
                    atomic_write_json(
                        Path(jobs[i].out_dir) / "train.json", result.model_dump(mode="json")
                    )
                results[i] = result
                if on_result is not None:
                    on_result(i, result)
        return [r for r in results if r is not None]


def _pack_checkpoint(job: TrainJob) -> dict[str, bytes]:
    """The checkpoint folder's regular files (a training container wrote it: no link in it,
    nor the folder itself, is followed; see `sandbox.safepath`)."""
    if not job.resume_from:
        return {}
    folder = Path(job.resume_from)
    try:
        return read_tree(folder.parent, folder.name, max_bytes=MAX_SHIPPED_BYTES)
    except OSError as err:
        raise WorkerError(
            f"cannot ship the checkpoint {folder}: {err.strerror or err}",
            hint="a checkpoint is a folder of regular files its training job wrote",
        ) from None


def _prior_curve(job: TrainJob) -> list[dict[str, Any]] | None:
    """The fitness curve of the run a continuation extends (it lives on the driver)."""
    if not job.resume_from:
        return None
    return list((read_json(Path(job.out_dir) / "train.json") or {}).get("curve", []))


def _train_on_node(
    payload: dict[str, Any],
    limits: Limits | None,
    checkpoint: dict[str, bytes],
    prior_curve: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Ray task: train in a scratch directory on this node, return the result and files."""
    scratch = Path(tempfile.mkdtemp(prefix="autoreward-ray-"))
    try:
        job = TrainJob.model_validate(payload)
        updates: dict[str, Any] = {"out_dir": str(scratch / "out")}
        if checkpoint:
            resume = scratch / "resume"
            for rel, data in checkpoint.items():
                (resume / rel).parent.mkdir(parents=True, exist_ok=True)
                (resume / rel).write_bytes(data)
            updates["resume_from"] = str(resume)
        from autoreward.train.job import CurvePoint

        curve = None if prior_curve is None else [CurvePoint.model_validate(p) for p in prior_curve]
        result = run_job_isolated(job.model_copy(update=updates), limits, prior_curve=curve)
        out = scratch / "out"
        # Regular files only: a symlink a container left in its folder would otherwise ship
        # the node's own files (resolved on the host) back to the driver.
        files = read_tree(scratch, "out", max_bytes=MAX_SHIPPED_BYTES, max_files=100_000,
                          skip_unsafe=True)  # fmt: skip
        return {"result": result.model_dump(mode="json"), "node_out_dir": str(out), "files": files}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _unpack(job: TrainJob, shipped: dict[str, Any]) -> TrainResult:
    """Write the node's files into `job.out_dir`; point the result's paths there."""
    out = Path(job.out_dir)
    node_dir = shipped["node_out_dir"]
    for rel, data in shipped["files"].items():
        atomic_write_bytes(out / rel, data)
    result = TrainResult.model_validate(shipped["result"])
    result = result.model_copy(
        update={
            "out_dir": str(out),
            "checkpoint": _relocate(result.checkpoint, node_dir, out),
            "video": _relocate(result.video, node_dir, out),
        }
    )
    train_json = read_json(out / "train.json") or {}
    train_json.update(result.model_dump(mode="json"))
    atomic_write_json(out / "train.json", train_json)
    return result


def _relocate(path: str | None, old_root: str, new_root: Path) -> str | None:
    if path is None:
        return None
    p = Path(path)
    try:
        return str(new_root / p.relative_to(old_root))
    except ValueError:
        return path
