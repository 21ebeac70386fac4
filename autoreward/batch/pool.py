"""`SharedPool`: one worker pool for every task of a batch."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from autoreward.train.job import TrainJob, TrainResult

# =========================================================================== the shared pool


class SharedPool:
    """One worker pool for every task of a batch: at most `slots` jobs train at once.

    Wraps any executor; each job goes to `inner.map([job])` once a slot is free, so jobs of
    different tasks interleave. `slots=None` leaves the limit to the executor (a Ray cluster
    schedules by its CPUs). `for_task(name)` gives the executor a task's loop uses.
    """

    def __init__(self, inner: Any, slots: int | None) -> None:
        self.inner = inner
        self.slots = slots
        self._gate = threading.BoundedSemaphore(slots) if slots else None
        self._lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.queued: dict[str, int] = {}

    def for_task(self, task: str) -> _TaskPool:
        return _TaskPool(self, task)

    def _count(self, table: dict[str, int], task: str, delta: int) -> None:
        with self._lock:
            table[task] = table.get(task, 0) + delta

    def run(
        self,
        task: str,
        jobs: Sequence[TrainJob],
        on_result: Callable[[int, TrainResult], None] | None = None,
        on_progress: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> list[TrainResult]:
        if not jobs:
            return []
        results: list[TrainResult | None] = [None] * len(jobs)

        def one(i: int) -> None:
            self._count(self.queued, task, 1)
            if self._gate is not None:
                self._gate.acquire()
            self._count(self.queued, task, -1)
            self._count(self.running, task, 1)
            try:
                results[i] = self.inner.map(
                    [jobs[i]],
                    on_result=None if on_result is None else lambda _k, r: on_result(i, r),
                    on_progress=None if on_progress is None else lambda _k, p: on_progress(i, p),
                )[0]
            finally:
                self._count(self.running, task, -1)
                if self._gate is not None:
                    self._gate.release()

        errors: list[BaseException] = []

        def guarded(i: int) -> None:
            try:
                one(i)
            except BaseException as err:  # re-raised in the caller's thread
                errors.append(err)

        threads = [threading.Thread(target=guarded, args=(i,), daemon=True, name=f"pool-{task}-{i}")
                   for i in range(len(jobs))]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return [r for r in results if r is not None]


class _TaskPool:
    """The `Executor` face of a `SharedPool` for one task."""

    def __init__(self, pool: SharedPool, task: str) -> None:
        self.pool, self.task = pool, task

    def map(
        self,
        jobs: Sequence[TrainJob],
        on_result: Callable[[int, TrainResult], None] | None = None,
        on_progress: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> list[TrainResult]:
        return self.pool.run(self.task, jobs, on_result, on_progress)
