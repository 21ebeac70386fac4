"""Training an iteration's candidates (autoreward.loop.candidates): each record carries its
first-rung outcome with what its rivals scored there; events say how halving decided."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoreward.config import RunConfig
from autoreward.envs.registry import load_schema
from autoreward.loop.candidates import TrainPlan, train_candidates, with_return_normalization
from autoreward.loop.setup import training_setup
from autoreward.store.atomic import atomic_write_json
from autoreward.store.records import CandidateRecord
from autoreward.train.job import TrainJob, TrainResult

# code -> (rung fitness, per-episode values at the rung, env return)
RUNG = {
    "a": (0.0136, [0.01, 0.0136, 0.0172], 20.0),
    "b": (0.008, [0.0079, 0.008, 0.0081], 50.0),
    "c": (0.025, [0.02, 0.025, 0.03], 10.0),
}


class RungExecutor:
    def __init__(self) -> None:
        self.batches: list[list[TrainJob]] = []

    def map(
        self, jobs: Sequence[TrainJob], on_result: Any = None, on_progress: Any = None
    ) -> list[TrainResult]:
        self.batches.append(list(jobs))
        out = []
        for i, job in enumerate(jobs):
            fit, values, env = RUNG[job.reward_code or ""]
            full = job.resume_from is not None
            r = TrainResult(status="ok", fitness=fit * (2 if full else 1), fitness_episodes=values,
                            env_return=env, steps=int(job.total_steps or 0), out_dir=job.out_dir,
                            checkpoint=f"{job.out_dir}/checkpoint", steps_this_run=int(job.total_steps or 0))  # fmt: skip
            if on_result:
                on_result(i, r)
            out.append(r)
        return out


def test_pruned_records_carry_the_rung_and_the_rivals(tmp_path: Path) -> None:
    cfg = RunConfig(env_id="CartPole-v1", task="t", steps=4000, samples=3, keep_fraction=0.3)
    plan = TrainPlan.from_config(cfg, load_schema("CartPole-v1"))
    dirs = {j: tmp_path / f"cand_{j}" for j in range(3)}
    for j, d in dirs.items():
        atomic_write_json(
            d / "screen.json", CandidateRecord(iteration=0, index=j, status="screened").model_dump()
        )
    events: list[tuple[str, dict[str, Any]]] = []
    records = train_candidates(RungExecutor(), plan, dirs, {0: "a", 1: "b", 2: "c"}, 0,
                               on_event=lambda kind, **data: events.append((kind, data)))  # fmt: skip
    by = {r.index: r for r in records}
    assert by[2].status == "trained" and by[2].rung is not None and by[2].rung.kept
    # one survivor; a (0.0136 ± 0.002) and b lie further below c than the noise band
    assert by[0].status == "pruned" and by[1].status == "pruned"
    b = by[1]
    assert b.rung is not None and b.rung.fitness == 0.008 and b.rung.steps == 1000
    assert [(o.index, o.fitness, o.kept) for o in b.rung.rivals] == [
        (2, 0.025, True),
        (0, 0.0136, False),
    ]
    assert b.reason.startswith("successive halving: stopped at rung 1 (1,000 steps): ")
    assert "below cand 2" in b.reason
    [(_, halving)] = [(k, d) for k, d in events if k == "halving"]
    assert "noise band" in halving["rule"] and halving["rung_steps"] == 1000
    assert [d["candidate"] for d in halving["decisions"]] == [2, 0, 1]
    saved = json.loads((dirs[1] / "candidate.json").read_text())
    assert saved["rung"]["rivals"][0]["index"] == 2


# ---------------------------------------------------------------- return normalization (item 2)


def test_generated_rewards_train_with_return_normalization_by_default(tmp_path: Path) -> None:
    schema = load_schema("CartPole-v1")
    assert "normalize" not in schema.train.hyperparams  # CartPole's zoo entry does not normalize
    plan = TrainPlan.from_config(RunConfig(env_id="CartPole-v1", task="t", steps=4000), schema)
    reward = plan.job(tmp_path / "c", "code", label="cand")
    env = plan.job(tmp_path / "b", None, label="env-reward baseline")
    assert reward.hyperparams["normalize"] == {"norm_obs": False, "norm_reward": True}
    assert "normalize" not in env.hyperparams  # the env's own reward trains as the schema says
    setup = training_setup(plan, schema, 1)
    assert setup.reward_normalized and not setup.obs_normalized


def test_normalize_false_turns_it_off_from_the_run_the_task_or_the_schema(tmp_path: Path) -> None:
    schema = load_schema("CartPole-v1")
    off = TrainPlan.from_config(
        RunConfig(env_id="CartPole-v1", task="t", steps=4000, normalize=False), schema
    )
    assert "normalize" not in off.job(tmp_path, "code", label="c").hyperparams
    quiet = schema.model_copy(
        update={"train": schema.train.model_copy(update={"normalize": False})}
    )
    by_schema = TrainPlan.from_config(RunConfig(env_id="CartPole-v1", task="t", steps=4000), quiet)
    assert "normalize" not in by_schema.job(tmp_path, "code", label="c").hyperparams
    # the run's own setting wins over the schema's
    forced = TrainPlan.from_config(
        RunConfig(env_id="CartPole-v1", task="t", steps=4000, normalize=True), quiet
    )
    assert forced.job(tmp_path, "code", label="c").hyperparams["normalize"]["norm_reward"]


def test_return_normalization_keeps_what_the_hyperparameters_say_about_observations() -> None:
    norm = with_return_normalization
    assert norm({"normalize": True}, True)["normalize"] == {}  # VecNormalize's defaults: both
    assert norm({"normalize": True}, False)["normalize"] == {"norm_reward": False}
    assert norm({"normalize": {"norm_obs": True, "clip_obs": 5.0}}, True)["normalize"] == {
        "norm_obs": True,
        "clip_obs": 5.0,
        "norm_reward": True,
    }
    # an explicit norm_reward (RL Zoo's string spelling too) wins over the default
    zoo = norm({"normalize": "dict(norm_obs=True, norm_reward=False)"}, True)
    assert zoo["normalize"] == {"norm_obs": True, "norm_reward": False}
    assert norm({"n_steps": 8}, False) == {"n_steps": 8}
