"""RayExecutor: two tiny jobs on a local Ray; artifacts come back into each job's out_dir."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoreward.errors import ConfigError
from autoreward.train.job import TrainJob

REWARDS = Path(__file__).parent / "fixtures" / "rewards"


@pytest.fixture
def local_ray() -> Iterator[object]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.ray
def test_two_jobs_on_local_ray_one_fails(local_ray: object, tmp_path: Path) -> None:
    from autoreward.exec.ray_exec import RayExecutor

    common = dict(
        env_id="CartPole-v1", n_checkpoints=1, eval_episodes=2, checkpoint_eval_episodes=1
    )
    jobs = [
        TrainJob(
            out_dir=str(tmp_path / "a"),
            reward_code=(REWARDS / "cartpole_dense.py").read_text(),
            total_steps=512,
            label="a",
            **common,
        ),
        # NaN after 200 vector steps of 8 envs
        TrainJob(
            out_dir=str(tmp_path / "b"),
            reward_code=(REWARDS / "cartpole_nan_midway.py").read_text(),
            total_steps=2048,
            label="b",
            **common,
        ),
    ]
    done: list[int] = []
    results = RayExecutor(workers=2).map(jobs, on_result=lambda i, r: done.append(i))
    ok, failed = results
    assert ok.status == "ok", ok.reason
    assert ok.out_dir == str(tmp_path / "a")
    assert ok.checkpoint == str(tmp_path / "a" / "train" / "checkpoint")
    assert (tmp_path / "a" / "policy.npz").exists() and (
        tmp_path / "a" / "train" / "checkpoint" / "state.json"
    ).exists()
    assert json.loads((tmp_path / "a" / "train.json").read_text())["out_dir"] == str(tmp_path / "a")
    assert failed.status == "failed" and "component 'ratio' is NaN/inf" in (failed.reason or "")
    assert sorted(done) == [0, 1]

    # continuing from a checkpoint ships it to the node and brings the longer run back
    more = jobs[0].model_copy(update={"total_steps": 1024, "resume_from": ok.checkpoint})
    (cont,) = RayExecutor(workers=2).map([more])
    assert cont.status == "ok", cont.reason
    assert cont.steps == 1024 and cont.steps_this_run == 512


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    from autoreward.exec.ray_exec import RayExecutor

    with pytest.raises(ConfigError, match="needs the 'ray' package") as info:
        RayExecutor()
    assert info.value.hint == "pip install 'autoreward[ray]'"


def test_packing_a_checkpoint_follows_no_link_the_job_planted(tmp_path: Path) -> None:
    """`_pack_checkpoint` ran `rglob` on the job's folder as the driver's user: a checkpoint
    the job replaced with a link to $HOME shipped the driver's files to the node."""
    from autoreward.errors import WorkerError
    from autoreward.exec.ray_exec import _pack_checkpoint
    from autoreward.train.job import TrainJob

    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine example.com password hunter2")
    train = tmp_path / "cand" / "train"
    (train / "checkpoint").mkdir(parents=True)
    (train / "checkpoint" / "model.zip").write_bytes(b"zip")
    job = TrainJob(env_id="Pendulum-v1", out_dir=str(tmp_path / "next"),
                   resume_from=str(train / "checkpoint"))  # fmt: skip
    assert _pack_checkpoint(job) == {"model.zip": b"zip"}
    (train / "checkpoint" / "netrc").symlink_to(home / ".netrc")
    with pytest.raises(WorkerError, match="planted by the job"):
        _pack_checkpoint(job)
    (train / "checkpoint" / "netrc").unlink()
    (train / "checkpoint" / "model.zip").unlink()
    (train / "checkpoint").rmdir()
    (train / "checkpoint").symlink_to(home)
    with pytest.raises(WorkerError, match="cannot ship the checkpoint"):
        _pack_checkpoint(job)
