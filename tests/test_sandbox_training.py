"""Whole training jobs with hostile rewards: the fitness the parent records cannot be moved.

`autoreward.sandbox._probe:reward_unrestricted` is the reward process (the only container of a
training job that runs reward code) with the reward module executed as UNRESTRICTED Python
(the validator and the restricted loader bypassed on purpose). Whatever it does in there, the recorded fitness must be the honest
fitness of the policy it produced, measured by the evaluation container. The other programs
in `tests/redteam_training/` pass the static check and the dry run, and misbehave only
during training (a time bomb, memory that keeps growing, a module body that never ends).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.envs.registry import load_schema
from autoreward.sandbox.worker import isolation
from autoreward.train.evaluate import evaluate_policy
from autoreward.train.job import TrainJob
from autoreward.train.limits import training_limits
from autoreward.train.pipeline import run_pipeline
from autoreward.train.policies import load_policy

PROGRAMS = Path(__file__).parent / "redteam_training"


def _job(out: Path, name: str, **update: object) -> TrainJob:
    fields: dict[str, object] = {
        "env_id": "CartPole-v1",
        "out_dir": str(out),
        "reward_code": (PROGRAMS / name).read_text(),
        "total_steps": 1024,
        "n_envs": 4,
        "n_checkpoints": 2,
        "eval_episodes": 4,
        "checkpoint_eval_episodes": 1,
    }
    return TrainJob.model_validate({**fields, **update})


@pytest.mark.expensive
def test_unrestricted_reward_cannot_move_the_recorded_fitness(tmp_path: Path) -> None:
    if not isolation().private_filesystem:
        pytest.skip("no container here: the host filesystem is visible to the worker")
    run = tmp_path / "run"
    cand = run / "iter_0" / "cand_0"
    (run / "config.yaml").parent.mkdir(parents=True)
    (run / "config.yaml").write_text("fitness: hidden\n")
    job = _job(cand, "plant_fake_results.py")
    result = run_pipeline(job, reward_target="autoreward.sandbox._probe:reward_unrestricted")
    assert result.status == "ok", result.reason

    # Nothing it planted reached the run directory; the parent wrote the results.
    assert (run / "config.yaml").read_text() == "fitness: hidden\n"
    assert not (run / "iter_0" / "cand_1").exists() and not (run / "best").exists()
    assert not Path("/tmp/planted").exists()
    recorded = json.loads((cand / "eval.json").read_text())
    assert recorded["fitness"] == result.fitness

    # The recorded fitness is the honest one: an independent evaluation of the published
    # (pickle-free) policy, in this process, gives the same number; a reward of zero
    # teaches nothing, so it is far from the 1.0 the program planted.
    schema = load_schema("CartPole-v1")
    model, normalizer = load_policy(job, schema, cand / "policy.npz")
    honest, _ = evaluate_policy(model, schema, job.eval_episodes, job.seed, normalizer)
    assert honest.fitness == pytest.approx(result.fitness)
    assert result.fitness is not None and result.fitness < 0.9
    stats = json.loads((cand / "stats.json").read_text())
    assert all(p["fitness"] != 1.0 for p in stats["checkpoints"])


@pytest.mark.expensive
def test_time_bomb_in_training_is_stopped_by_the_watchdog(tmp_path: Path) -> None:
    job = _job(tmp_path, "time_bomb.py", total_steps=4096)
    limits = training_limits(job).model_copy(update={"reward_call_seconds": 1.0})
    result = run_pipeline(job, limits)
    assert result.status == "failed"
    assert result.reason is not None
    assert "reward call exceeded 1 s at step" in result.reason, result.reason
    saved = json.loads((tmp_path / "train.json").read_text())
    assert saved["status"] == "failed" and "reward call exceeded" in saved["reason"]


@pytest.mark.expensive
def test_memory_that_keeps_growing_fails_this_candidate_only(tmp_path: Path) -> None:
    job = _job(tmp_path, "slow_memory_growth.py", total_steps=8192)
    # The share limit off: this reward is also slow, and the memory limit is what is tested.
    limits = training_limits(job).model_copy(
        update={"address_space_mb": 3072, "reward_share_limit": 0.0}
    )
    result = run_pipeline(job, limits)
    assert result.status == "failed"
    assert "memory" in (result.reason or "").lower(), result.reason


def test_train_command_never_executes_the_reward_in_this_process(tmp_path: Path) -> None:
    """A module body that never finishes: `autoreward train` returns with the watchdog's
    reason instead of hanging (it only parses the file; a container loads it)."""
    result = CliRunner().invoke(
        app,
        [
            "train", str(PROGRAMS / "hanging_module_body.py"), "--env", "CartPole-v1",
            "--steps", "256", "--n-envs", "2", "--out", str(tmp_path / "t"), "--no-video",
        ],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "reward call exceeded" in result.output


@pytest.mark.expensive
def test_links_a_training_job_plants_reach_nothing_of_the_host(tmp_path: Path) -> None:
    """Issue 17: a job replaced its `train/checkpoint` with a link to $HOME; continuing it
    followed the link and bound `.env`, `.netrc` and the run's `config.yaml` into the next
    container. Here UNRESTRICTED Python in the training container replaces every file and
    folder the parent later reads (checkpoint, final policy, progress.json) with links to a
    folder of secrets; neither the evaluation nor a continuation reads any of them."""
    if not isolation().private_filesystem:
        pytest.skip("no container here: the host filesystem is visible to the worker")
    secrets = tmp_path / "home"
    secrets.mkdir()
    (secrets / ".env").write_text("OPENAI_API_KEY=sk-planted-link-secret")
    (secrets / "config.yaml").write_text("fitness: hidden-planted-link-secret\n")
    (secrets / "model.zip").write_text("planted-link-secret")
    cand = tmp_path / "run" / "iter_0" / "cand_0"
    job = TrainJob(env_id="CartPole-v1", out_dir=str(cand), total_steps=256, n_envs=2,
                   n_checkpoints=1, eval_episodes=2, checkpoint_eval_episodes=1,
                   label=f"plant:{secrets}")  # fmt: skip
    first = run_pipeline(job, train_target="autoreward.sandbox._probe:train_then_plant")
    assert (cand / "train" / "checkpoint").is_symlink()
    assert first.status == "failed"
    assert "cannot use the policy folder" in (first.reason or "")
    assert "final.npz" in (first.reason or "") and "link" in (first.reason or "")

    # Successive halving continues the candidate from its checkpoint: refused, not followed.
    follow = job.model_copy(update={"total_steps": 512, "label": "",
                                    "resume_from": str(cand / "train" / "checkpoint")})  # fmt: skip
    second = run_pipeline(follow)
    assert second.status == "failed"
    assert "cannot use the checkpoint" in (second.reason or "")

    leaked = [
        p for p in (tmp_path / "run").rglob("*")
        if p.is_file() and not p.is_symlink() and b"planted-link-secret" in p.read_bytes()
    ]  # fmt: skip
    assert leaked == []
