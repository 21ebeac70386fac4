"""One LocalExecutor shared by several threads (a batch, a refine session) never trains more
than `workers` jobs at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from autoreward.exec import local
from autoreward.exec.local import LocalExecutor
from autoreward.train.job import TrainJob, TrainResult


def test_concurrent_map_calls_share_the_worker_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def fake_run(job: TrainJob, limits: object = None) -> TrainResult:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return TrainResult(status="ok", out_dir=job.out_dir)

    monkeypatch.setattr(local, "run_job_isolated", fake_run)
    executor = LocalExecutor(workers=2)
    jobs = [TrainJob(env_id="CartPole-v1", out_dir=str(tmp_path / f"j{i}")) for i in range(4)]
    threads = [threading.Thread(target=executor.map, args=(jobs,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state["peak"] == 2
