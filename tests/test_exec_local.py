"""LocalExecutor: jobs in isolated workers; a failing or timed-out job never stops the others."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from autoreward.errors import ConfigError
from autoreward.exec import LocalExecutor, make_executor, training_limits
from autoreward.exec.local import allow_jobs, stop_all_jobs
from autoreward.sandbox.worker import Limits
from autoreward.train.job import TrainJob, TrainResult

REWARDS = Path(__file__).parent / "fixtures" / "rewards"


def _job(tmp_path: Path, name: str, reward: str | None, steps: int) -> TrainJob:
    return TrainJob(
        env_id="CartPole-v1",
        out_dir=str(tmp_path / name),
        reward_code=None if reward is None else (REWARDS / reward).read_text(),
        total_steps=steps,
        n_checkpoints=2,
        eval_episodes=2,
        checkpoint_eval_episodes=1,
        label=name,
        progress_every_s=0.2,
    )


def test_candidate_raising_mid_training_fails_while_sibling_finishes(tmp_path: Path) -> None:
    jobs = [
        _job(tmp_path, "good", "cartpole_dense.py", 4096),
        _job(tmp_path, "bad", "cartpole_raises_midway.py", 4096),
    ]
    finished: list[tuple[int, str]] = []
    progress: list[tuple[int, dict[str, Any]]] = []
    results = LocalExecutor(workers=2, poll_s=0.2).map(
        jobs,
        on_result=lambda i, r: finished.append((i, r.status)),
        on_progress=lambda i, p: progress.append((i, p)),
    )
    good, bad = results
    assert good.status == "ok", good.reason
    assert good.steps == 4096 and good.fitness is not None
    assert bad.status == "failed"
    assert (
        "compute_reward raised ValueError at training step 2400: lookup of an unknown state key"
        in (bad.reason or "")
    )
    assert sorted(finished) == [(0, "ok"), (1, "failed")]
    assert {i for i, _ in progress} <= {0, 1} and all("steps" in p for _, p in progress)
    for job, result in zip(jobs, results, strict=True):
        saved = json.loads((Path(job.out_dir) / "train.json").read_text())
        assert saved["status"] == result.status


def test_timeout_is_recorded_with_its_reason(tmp_path: Path) -> None:
    slow = _job(tmp_path, "slow", "cartpole_dense.py", 10_000_000)
    quick = _job(tmp_path, "quick", None, 256)
    limits = training_limits(slow, wall_seconds=20)  # room for the quick job on a loaded machine
    results = LocalExecutor(workers=2, limits=limits).map([slow, quick])
    assert results[0].status == "failed" and (results[0].reason or "").startswith("worker timeout")
    assert results[1].status == "ok", results[1].reason
    saved = json.loads((tmp_path / "slow" / "train.json").read_text())
    assert saved["status"] == "failed" and saved["reason"] == results[0].reason


def test_training_limits_leave_room_for_torch() -> None:
    job = TrainJob(env_id="CartPole-v1", out_dir="x", torch_threads=2)
    limits = training_limits(job, wall_seconds=100)
    assert limits.wall_seconds == 100 and limits.cpu_seconds >= 300
    assert limits.address_space_mb >= Limits().address_space_mb


def test_make_executor() -> None:
    assert isinstance(make_executor("local", workers=3), LocalExecutor)
    assert make_executor("local", workers=3).workers == 3  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):
        make_executor("slurm")


def test_empty_job_list() -> None:
    assert LocalExecutor(workers=2).map([]) == []


def test_failure_result_keeps_job_identity() -> None:
    job = TrainJob(env_id="CartPole-v1", out_dir="out", label="c3", seed=7, total_steps=100)
    result = TrainResult.failure(job, "worker killed")
    assert (result.status, result.label, result.seed, result.total_steps) == (
        "failed",
        "c3",
        7,
        100,
    )


def test_relative_out_dir_is_not_nested_inside_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`autoreward run` defaults to `--out runs`: the worker's cwd is the job folder, so a
    relative out_dir must be resolved before it gets there."""
    monkeypatch.chdir(tmp_path)
    job = _job(Path("runs"), "cand_0", "cartpole_dense.py", 512).model_copy(update={"video": False})
    [result] = LocalExecutor(workers=1, poll_s=0.2).map([job])
    assert result.status == "ok", result.reason
    assert (tmp_path / "runs" / "cand_0" / "stats.json").is_file()
    assert not (tmp_path / "runs" / "cand_0" / "runs").exists()


def test_progress_numbers_and_text_from_a_worker_are_checked(tmp_path: Path) -> None:
    """`steps_per_s=1e300`, negative steps and escapes in the label were shown as written."""
    from autoreward.exec.base import read_progress

    job = TrainJob(env_id="Pendulum-v1", out_dir=str(tmp_path))
    (tmp_path / "train").mkdir()
    progress = tmp_path / "train" / "progress.json"
    progress.write_text(json.dumps({"steps": 10, "label": "x\x1b]52;c;aGk=\x07", "t": 1.0}))
    assert read_progress(job) == {"steps": 10, "total_steps": 0, "label": "x", "status": "",
                                  "t": 1.0}  # fmt: skip
    for forged in ({"steps_per_s": 1e300}, {"steps": -5}, {"fitness": float("nan")}):
        progress.write_text(json.dumps({"steps": 1, **forged}))
        assert read_progress(job) == {}


def test_stop_all_jobs_stops_a_map_waiting_in_another_thread(tmp_path: Path) -> None:
    """A batch's task threads wait on their jobs: Ctrl-C (`stop_all_jobs`, from the main
    thread) kills the workers, records nothing for them and raises KeyboardInterrupt there."""
    jobs = [_job(tmp_path, "long", "cartpole_dense.py", 2_000_000)]
    recorded: list[int] = []
    raised: list[BaseException] = []

    def waiting() -> None:
        try:
            LocalExecutor(workers=1, poll_s=0.2).map(
                jobs, on_result=lambda i, r: recorded.append(i)
            )
        except BaseException as err:
            raised.append(err)

    thread = threading.Thread(target=waiting, daemon=True)
    thread.start()
    progress = tmp_path / "long" / "train" / "progress.json"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not progress.exists():
            time.sleep(0.2)
        assert progress.exists(), "training never started"
        assert stop_all_jobs() >= 1  # the learner and its reward process
        thread.join(timeout=30)
        assert not thread.is_alive(), "the map still waits on a killed worker"
    finally:
        allow_jobs()
    assert [type(e) for e in raised] == [KeyboardInterrupt] and recorded == []
    # Allowed again, the next map trains as usual.
    [again] = LocalExecutor(workers=1).map([_job(tmp_path, "after", "cartpole_dense.py", 1024)])
    assert again.status == "ok", again.reason
