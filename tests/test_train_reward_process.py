"""Assume escape: the reward runs as UNRESTRICTED Python in its own process, and still cannot
move its grade, read the fitness, or take the training hostage.

`autoreward.sandbox._probe:reward_unrestricted` is the reward process (`train/rewardproc.py`)
with the module executed with full builtins (the validator and the restricted loader bypassed
on purpose). `tests/redteam_training/tamper_and_fall.py` teaches the pole to fall while it
overwrites every file it can reach, plants fake results, pokes at other processes' memory and
searches its payload, environment and files for the fitness; it reports what it found in the
names of its components, the only thing it can send back.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.envs.registry import load_schema
from autoreward.sandbox.worker import isolation
from autoreward.train import pipeline
from autoreward.train.evaluate import evaluate_policy
from autoreward.train.job import TrainJob
from autoreward.train.pipeline import run_pipeline
from autoreward.train.policies import load_policy

PROGRAMS = Path(__file__).parent / "redteam_training"
FIXTURE = Path(__file__).parent / "fixtures" / "run_before_reward_process" / "cand_0"
UNRESTRICTED = "autoreward.sandbox._probe:reward_unrestricted"
TAMPER = (PROGRAMS / "tamper_and_fall.py").read_text()
SLOW = (
    TAMPER
    + """

import time

_falls = compute_reward


def compute_reward(state, action, next_state):
    time.sleep(4)  # under the 5 s per-call limit, every call
    return _falls(state, action, next_state)
"""
)


def _job(out: Path, code: str, **update: object) -> TrainJob:
    fields: dict[str, object] = {
        "env_id": "CartPole-v1",
        "out_dir": str(out),
        "reward_code": code,
        "total_steps": 1024,
        "n_envs": 4,
        "n_checkpoints": 2,
        "eval_episodes": 4,
        "checkpoint_eval_episodes": 1,
        "video": False,
    }
    return TrainJob.model_validate({**fields, **update})


def _needs_container() -> None:
    if not isolation().private_filesystem:
        pytest.skip("no container here: the host filesystem is visible to the worker")


def _honest(job: TrainJob, folder: Path) -> float:
    """The fitness of the published policy, measured again in this process."""
    schema = load_schema(job.env_id)
    model, normalizer = load_policy(job, schema, folder / "policy.npz")
    honest, _ = evaluate_policy(model, schema, job.eval_episodes, job.seed, normalizer)
    assert honest.fitness is not None
    return honest.fitness


def _reported_names(folder: Path) -> set[str]:
    stats = json.loads((folder / "stats.json").read_text())
    return {name for point in stats["checkpoints"] for name in point.get("per_step", {})}


@pytest.mark.expensive
def test_a_tampering_reward_gets_its_honest_low_fitness(tmp_path: Path) -> None:
    _needs_container()
    cand = tmp_path / "iter_0" / "cand_0"
    job = _job(cand, TAMPER)
    result = run_pipeline(job, reward_target=UNRESTRICTED)
    assert result.status == "ok", result.reason

    # What the reward process found and could do, in its own words (component names).
    names = _reported_names(cand)
    assert "fitness_seen_0" in names, names
    assert "wrote_outside_tmp_0" in names, names
    # The grade is the honest one for what the learner learned: a fresh evaluation of the
    # published policy agrees, and a reward that pays for falling earns little.
    assert result.fitness == pytest.approx(_honest(job, cand))
    assert result.fitness is not None and result.fitness < 0.5
    assert json.loads((cand / "eval.json").read_text())["fitness"] == result.fitness
    assert not list(tmp_path.rglob("result.json"))
    # The learner timed every round trip itself.
    rp = json.loads((cand / "train.json").read_text())["reward_process"]
    assert rp["reward_calls"] == 1024 // 4 and 0 < rp["reward_share"] < 1


@pytest.mark.expensive
def test_a_slow_reward_is_stopped_by_its_share_of_the_training_time(tmp_path: Path) -> None:
    _needs_container()
    result = run_pipeline(_job(tmp_path, SLOW, total_steps=4096), reward_target=UNRESTRICTED)
    assert result.status == "failed"
    # 4 s per call under the 5 s limit: after the 10 s warm-up (three calls of four envs)
    # it has taken nearly all the time.
    assert re.search(
        r"reward took \d+% of training time by step (8|12) \(\d+% computing; limit 50%\)",
        result.reason or "",
    ), result.reason
    saved = json.loads((tmp_path / "train.json").read_text())
    assert saved["status"] == "failed" and "of training time" in saved["reason"]


@pytest.mark.expensive
def test_autoreward_train_reports_the_honest_fitness_of_a_tampering_reward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's finding, end to end: a reward that teaches the pole to fall and got
    unrestricted Python (the static check and the loader bypassed here) tampers with
    everything it can reach; `autoreward train` reports its honest, low fitness."""
    _needs_container()
    import autoreward.sandbox.validate as validate

    monkeypatch.setattr(validate, "validate_code", lambda *args, **kwargs: [])
    monkeypatch.setattr(pipeline, "REWARD_TARGET", UNRESTRICTED)
    reward = tmp_path / "falls.py"
    reward.write_text(TAMPER)
    out = tmp_path / "t"
    result = CliRunner().invoke(
        app,
        ["train", str(reward), "--env", "CartPole-v1", "--steps", "1024", "--n-envs", "4",
         "--out", str(out), "--no-video"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = out / "reward"
    recorded = json.loads((folder / "train.json").read_text())
    assert recorded["status"] == "ok"
    assert "fitness_seen_0" in _reported_names(folder)
    job = TrainJob.model_validate(json.loads((folder / "job.json").read_text()))
    assert recorded["fitness"] == pytest.approx(_honest(job, folder))
    assert recorded["fitness"] < 0.5


@pytest.mark.expensive
def test_a_candidate_trained_before_the_reward_process_continues_after_it(
    tmp_path: Path,
) -> None:
    """A candidate folder written by 0.1.x (in-process reward; `make.py` beside it) resumes:
    its checkpoint continues to a larger budget through the reward process."""
    cand = tmp_path / "cand_0"
    shutil.copytree(FIXTURE, cand)
    old = TrainJob.model_validate(json.loads((cand / "job.json").read_text()))
    job = old.model_copy(
        update={
            "out_dir": str(cand),
            "reward_code": (cand / "reward.py").read_text(),
            "total_steps": 512,
            "resume_from": str(cand / "train" / "checkpoint"),
        }
    )
    before = json.loads((cand / "train.json").read_text())
    assert before["steps"] == 256 and "reward_process" not in before
    result = run_pipeline(job)
    assert result.status == "ok", result.reason
    assert result.steps == 512 and result.steps_this_run == 256
    # the old run's curve is kept and continued
    steps = [p.step for p in result.curve]
    assert steps[: len(before["curve"])] == [p["step"] for p in before["curve"]]
    assert steps[-1] == 512
    after = json.loads((cand / "train.json").read_text())
    assert after["reward_process"]["reward_calls"] == 256 // old.n_envs  # type: ignore[operator]
