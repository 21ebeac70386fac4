"""`LocalExecutor`: a thread pool on this machine, one isolated worker process per job."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from autoreward.exec.base import ProgressFn, ResultFn, read_progress, run_job_isolated
from autoreward.sandbox.worker import kill_running_workers
from autoreward.train.job import TrainJob, TrainResult

if TYPE_CHECKING:
    from autoreward.sandbox.worker import Limits


_STOP = threading.Event()


def stop_all_jobs() -> int:
    """Ctrl-C, from any thread: kill the running workers of every `map` in this process and
    start no more; the jobs stopped are not results (nothing is recorded for them), and each
    `map` raises KeyboardInterrupt in its own thread (a batch's task threads, not only the
    main one). Returns how many workers were killed."""
    _STOP.set()
    return kill_running_workers()


def allow_jobs() -> None:
    """Undo `stop_all_jobs` (a command starting in this process)."""
    _STOP.clear()


class LocalExecutor:
    """Runs up to `workers` jobs at once (default: one per core). The threads only wait on
    the worker processes, which do the training; each job's torch uses `job.torch_threads`."""

    def __init__(
        self, workers: int | None = None, limits: Limits | None = None, poll_s: float = 1.0
    ) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.limits = limits
        self.poll_s = poll_s
        # Shared by every map() call, so loops calling one executor from several threads
        # (a batch, a refine session) still train at most `workers` jobs at once.
        self._slots = threading.BoundedSemaphore(self.workers)

    def map(
        self,
        jobs: Sequence[TrainJob],
        on_result: ResultFn | None = None,
        on_progress: ProgressFn | None = None,
    ) -> list[TrainResult]:
        results: list[TrainResult | None] = [None] * len(jobs)
        running: dict[int, TrainJob] = {}
        lock = threading.Lock()
        callback_errors: list[BaseException] = []

        def call(fn: Any, *args: Any) -> None:
            # A failing callback is re-raised after every job has finished, so no work is lost.
            with lock:
                try:
                    fn(*args)
                except Exception as err:
                    callback_errors.append(err)

        interrupted = threading.Event()

        def stopped() -> bool:
            return interrupted.is_set() or _STOP.is_set()

        def run_one(i: int) -> None:
            if stopped():
                return
            with lock:
                running[i] = jobs[i]
            try:
                with self._slots:
                    result = run_job_isolated(jobs[i], self.limits)
            except Exception as err:  # a bug around one job must not lose the others
                result = TrainResult.failure(
                    jobs[i], f"executor error: {type(err).__name__}: {err}"
                )
            finally:
                with lock:
                    running.pop(i, None)
            if stopped():  # killed by the interrupt: not a result to record
                return
            results[i] = result
            if on_result is not None:
                call(on_result, i, result)

        stop = threading.Event()
        monitor = None
        if on_progress is not None:
            monitor = threading.Thread(
                target=self._watch, args=(running, lock, stop, on_progress, call), daemon=True
            )
            monitor.start()
        try:
            with ThreadPoolExecutor(max_workers=min(self.workers, max(len(jobs), 1))) as pool:
                futures = [pool.submit(run_one, i) for i in range(len(jobs))]
                try:
                    for future in futures:
                        future.result()
                except BaseException:  # Ctrl-C: stop the workers instead of waiting for them
                    interrupted.set()
                    for future in futures:
                        future.cancel()
                    kill_running_workers()
                    raise
        finally:
            stop.set()
            if monitor is not None:
                monitor.join()
        if _STOP.is_set():
            raise KeyboardInterrupt
        if callback_errors:
            raise callback_errors[0]
        return [r for r in results if r is not None]  # every slot is filled by now

    def _watch(
        self,
        running: dict[int, TrainJob],
        lock: threading.Lock,
        stop: threading.Event,
        on_progress: ProgressFn,
        call: Any,
    ) -> None:
        seen: dict[int, Any] = {}
        while not stop.wait(self.poll_s):
            with lock:
                current = dict(running)
            for i, job in current.items():
                progress = read_progress(job)
                if progress and progress.get("t") != seen.get(i):
                    seen[i] = progress.get("t")
                    call(on_progress, i, progress)
