"""Choosing the training backend and resolving a `--backend warp` job before any worker:
clear errors for schemas and options that do not apply, rsl-rl settings from the schema and
the command line, the rollout fitted to the budget, the plan's jobs; the rsl-rl actor's
pickle-free weights and predictor (no MuJoCo Warp needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoreward.config import RunConfig
from autoreward.envs.registry import load_schema
from autoreward.envs.rslrl_settings import RslRlHyperparams, merged_rslrl_hyperparams
from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError
from autoreward.train.backends import fit_warp_rollout, resolve_backend, warp_setup
from autoreward.train.job import TrainJob

WARP = dict(algo=None, steps=None, n_envs=None, hyperparams={}, hyperparams_file=None)


def test_warp_refuses_a_schema_without_a_simulation_section() -> None:
    with pytest.raises(
        ConfigError, match=r"--backend warp cannot train CartPole-v1: .*'simulation'"
    ):
        resolve_backend("warp", load_schema("CartPole-v1"))
    with pytest.raises(ConfigError, match=r"not a backend"):
        resolve_backend("jax", load_schema("Hopper-v5"))
    assert resolve_backend("sb3", load_schema("Hopper-v5")) == ("sb3", "cpu")


def test_auto_picks_warp_only_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from autoreward.train import backends

    monkeypatch.setattr(backends, "gpu_present", lambda: False)
    assert resolve_backend("auto", load_schema("Hopper-v5")) == ("sb3", "cpu")
    monkeypatch.setattr(backends, "gpu_present", lambda: True)
    assert resolve_backend("auto", load_schema("Hopper-v5")) == ("warp", "cuda")
    assert resolve_backend("auto", load_schema("CartPole-v1")) == ("sb3", "cpu")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"algo": "SAC"}, r"--algo SAC does not apply with --backend warp"),
        ({"hyperparams_file": "ppo.yml"}, r"--hyperparams-file does not apply"),
        ({"hyperparams": {"policy": "MlpPolicy"}}, r"--policy does not apply"),
        ({"hyperparams": {"n_steps": 64}}, r"'n_steps' is not an rsl-rl PPO setting"),
        ({"hyperparams": {"num_step_per_env": 8}}, r"did you mean 'num_steps_per_env'"),
        ({"hyperparams": {"gamma": 1.5}}, r"gamma: Input should be less than or equal to 1"),
    ],
)
def test_options_that_do_not_apply_to_warp_are_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        warp_setup(load_schema("Hopper-v5"), device="cpu", **{**WARP, **options})


def test_warp_setup_takes_the_schemas_settings_under_the_command_lines() -> None:
    schema = load_schema("Hopper-v5")
    setup = warp_setup(
        schema, device="cpu", **{**WARP, "hyperparams": {"learning_rate": 5e-4}, "steps": 10_000}
    )
    train = schema.simulation.train  # type: ignore[union-attr]
    assert setup.worlds == train.worlds_cpu
    assert setup.hyperparams["learning_rate"] == 5e-4
    assert setup.hyperparams["actor_hidden_dims"] == train.hyperparams.actor_hidden_dims
    rollout = setup.worlds * setup.hyperparams["num_steps_per_env"]
    assert setup.trained_steps == -(-10_000 // rollout) * rollout
    assert "whole rollouts" in setup.budget_note
    gpu = warp_setup(schema, device="cuda", **WARP)
    assert gpu.worlds == train.worlds_cuda


def test_a_rollout_larger_than_the_budget_is_shrunk_and_said() -> None:
    hp = RslRlHyperparams(num_steps_per_env=24)
    fitted, note = fit_warp_rollout(hp, 64, 1000, "the first halving rung")
    assert fitted.num_steps_per_env == 15 and "num_steps_per_env 24 -> 15" in note
    assert "the first halving rung" in note
    one, note = fit_warp_rollout(hp, 4096, 1000)
    assert one.num_steps_per_env == 1 and "use fewer --n-envs" in note
    same, note = fit_warp_rollout(hp, 8, 1000)
    assert same == hp and note == ""


def test_the_plan_trains_every_job_on_warp_with_complete_settings() -> None:
    from autoreward.loop.candidates import TrainPlan

    cfg = RunConfig(env_id="Hopper-v5", task="hop", backend="warp", steps=2000, n_envs=8,
                    samples=2, hyperparams={"num_steps_per_env": 64})  # fmt: skip
    plan = TrainPlan.from_config(cfg, load_schema("Hopper-v5"))
    assert (plan.backend, plan.algo, plan.n_envs) == ("warp", "PPO", 8)
    # the first rung gets 500 steps: one rollout of 8 worlds fits it
    assert plan.hyperparams["num_steps_per_env"] == 62 and "first halving rung" in plan.budget_note
    job = plan.job(Path("/tmp/x"), "code", label="x")
    assert job.backend == "warp" and not job.schema_hyperparams
    assert set(job.hyperparams) == set(RslRlHyperparams.model_fields)
    sb3 = TrainPlan.from_config(RunConfig(env_id="Hopper-v5", task="hop"), load_schema("Hopper-v5"))
    assert sb3.backend == "sb3" and "n_steps" in sb3.hyperparams


def test_resumable_job_keys_of_sb3_jobs_do_not_change() -> None:
    """Runs made before the backend field existed keep their finished jobs on resume."""
    from autoreward.loop.candidates import ResumableExecutor

    job = TrainJob(env_id="CartPole-v1", out_dir="/tmp/x")
    legacy = job.model_dump_json(exclude={"label", "progress_every_s", "backend"})
    import hashlib

    assert ResumableExecutor._path(job).stem == hashlib.sha256(legacy.encode()).hexdigest()[:16]
    warp = job.model_copy(update={"backend": "warp"})
    assert ResumableExecutor._path(warp) != ResumableExecutor._path(job)


def test_schema_sections_for_the_warp_backend_are_validated() -> None:
    data = load_schema("Hopper-v5").model_dump(mode="json")
    data["simulation"]["train"]["hyperparams"]["nsteps"] = 8
    with pytest.raises(ValueError, match="nsteps"):
        EnvSchema.model_validate(data)
    data = load_schema("Hopper-v5").model_dump(mode="json")
    data["simulation"]["reward"].append({"name": "speed", "source": "state:speed", "weight": 1})
    with pytest.raises(ValueError, match="reads state field 'speed', which the schema does not"):
        EnvSchema.model_validate(data)
    data["simulation"]["reward"][-1]["source"] = "fdvel:qpos:rootx"
    with pytest.raises(ValueError, match="name a state field that does"):
        EnvSchema.model_validate(data)
    # an open bound dumped to JSON (null) reads back as unbounded
    data = load_schema("Hopper-v5").model_dump(mode="json")
    data["simulation"]["terminations"][1]["healthy_range"] = [0.7, None]
    schema = EnvSchema.model_validate(data)
    assert schema.simulation.terminations[1].healthy_range == (0.7, float("inf"))  # type: ignore[union-attr]


def test_merged_settings_name_every_bad_key() -> None:
    with pytest.raises(ConfigError, match=r"'foo' .*; 'bar'"):
        merged_rslrl_hyperparams(RslRlHyperparams(), {"foo": 1, "bar": 2})


# --------------------------------------------------------------------------- the rsl-rl actor


@pytest.fixture
def warp_job(tmp_path: Path) -> TrainJob:
    pytest.importorskip("rsl_rl")
    return TrainJob(env_id="Hopper-v5", out_dir=str(tmp_path), backend="warp",
                    hyperparams={"actor_hidden_dims": [16, 16]})  # fmt: skip


def test_the_saved_actor_is_rebuilt_from_the_job_and_acts_the_same(
    warp_job: TrainJob, tmp_path: Path
) -> None:
    import torch
    from tensordict import TensorDict

    from autoreward.train.policies import load_policy
    from autoreward.train.rslrl.policy import build_actor, job_rslrl_hyperparams, save_actor

    schema = load_schema("Hopper-v5")
    hp = job_rslrl_hyperparams(warp_job, schema)
    actor = build_actor(11, 3, hp)
    with torch.no_grad():  # non-trivial normaliser statistics: they must travel with the weights
        actor.obs_normalizer._mean.fill_(0.5)
        actor.obs_normalizer._std.fill_(2.0)
    path = save_actor(actor, tmp_path / "policy" / "final.npz")
    predictor, normalizer = load_policy(warp_job, schema, path)
    assert normalizer is None  # the normaliser is inside the actor
    obs = np.random.default_rng(0).normal(size=(5, 11)).astype(np.float32)
    actions, _ = predictor.predict(obs, deterministic=True)
    with torch.inference_mode():
        want = actor.eval()(TensorDict({"policy": torch.as_tensor(obs)}, batch_size=[5]))
    np.testing.assert_allclose(actions, np.clip(want.numpy(), -1, 1), rtol=1e-6)
    single, _ = predictor.predict(obs[0], deterministic=True)
    assert single.shape == (3,)
    sampled, _ = predictor.predict(obs, deterministic=False)
    assert sampled.shape == (5, 3) and not np.allclose(sampled, actions)
    assert np.all(np.abs(sampled) <= 1.0)


def test_a_policy_that_does_not_fit_the_job_is_refused(warp_job: TrainJob, tmp_path: Path) -> None:
    from autoreward.train.policies import load_policy
    from autoreward.train.rslrl.policy import build_actor, save_actor

    schema = load_schema("Hopper-v5")
    other = build_actor(11, 3, RslRlHyperparams(actor_hidden_dims=[16, 8]))
    path = save_actor(other, tmp_path / "other.npz")
    with pytest.raises(ConfigError, match=r"parameter mlp.2.weight has shape \(8, 16\)"):
        load_policy(warp_job, schema, path)
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(ConfigError, match="not an rsl-rl policy"):
        load_policy(warp_job, schema, tmp_path / "plain.npz")
