"""The step budget against PPO/A2C rollouts: fitted where it would be overshot, said otherwise."""

from __future__ import annotations

from pathlib import Path

from autoreward.train.budget import describe_rollout, fit_rollout


def test_a_rollout_larger_than_the_budget_is_shrunk_to_fit() -> None:
    # PPO's defaults (n_steps 2048, batch_size 64) on 4 envs would train 8192 steps for 2048
    params, fit = fit_rollout("PPO", {}, n_envs=4, budget=2048)
    assert params == {"n_steps": 512} and fit.rollout == 2048 and fit.trained_steps() == 2048
    assert fit.shrunk_from == {"n_steps": 2048} and fit.notable
    assert fit.note == (
        "PPO rollouts of 2,048 steps (4 envs × n_steps 512): n_steps 2048 shrunk to n_steps 512 "
        "so one rollout fits the budget of 2,048 steps"
    )


def test_the_fitted_rollout_stays_a_multiple_of_the_minibatch() -> None:
    params, fit = fit_rollout("PPO", {"n_steps": 1024, "batch_size": 256}, n_envs=3, budget=2000)
    assert fit.rollout is not None and fit.rollout <= 2000 and fit.rollout % 256 == 0
    assert params["n_steps"] * 3 == fit.rollout and params["batch_size"] == 256
    # a budget below one minibatch: the minibatch becomes the whole rollout
    params, fit = fit_rollout("PPO", {"n_steps": 2048, "batch_size": 64}, n_envs=8, budget=40)
    assert (params["n_steps"], params["batch_size"], fit.rollout) == (5, 40, 40)
    assert fit.shrunk_from == {"n_steps": 2048, "batch_size": 64}
    assert "batch_size 40" in fit.note


def test_a_rollout_that_fits_is_kept_and_its_overshoot_said() -> None:
    params, fit = fit_rollout("PPO", {"n_steps": 32}, n_envs=8, budget=1000)
    assert params == {"n_steps": 32} and not fit.shrunk_from
    assert fit.trained_steps() == 1024 and fit.notable
    assert "1,024 steps for a budget of 1,000 (+24)" in fit.note
    _, exact = fit_rollout("PPO", {"n_steps": 32}, n_envs=8, budget=1024)
    assert not exact.notable and exact.trained_steps(4096) == 4096
    a2c = describe_rollout("A2C", {}, n_envs=4, budget=100)  # SB3's A2C default n_steps is 5
    assert (a2c.rollout, a2c.trained_steps()) == (20, 100)


def test_off_policy_warm_up_longer_than_the_budget_is_said() -> None:
    _, fit = fit_rollout("SAC", {"learning_starts": 10_000}, n_envs=1, budget=5000)
    assert fit.notable and "no gradient step will be taken" in fit.note
    _, fine = fit_rollout("TD3", {}, n_envs=1, budget=5000)
    assert not fine.notable and fine.note == ""


def test_the_run_plan_fits_the_first_halving_rung_and_every_job_gets_it() -> None:
    from autoreward.config import RunConfig
    from autoreward.envs.registry import load_schema
    from autoreward.loop.candidates import TrainPlan

    schema = load_schema("Acrobot-v1")  # shipped: PPO, n_steps 512 on 8 envs, batch_size 64
    cfg = RunConfig(env_id="Acrobot-v1", task="x", steps=4096, samples=4, rung_fraction=0.25)
    plan = TrainPlan.from_config(cfg, schema)
    assert plan.hyperparams["n_steps"] == 128 and plan.hyperparams["batch_size"] == 64
    assert (
        plan.hyperparams["gamma"] == schema.train.hyperparams["gamma"]
    )  # the rest is the schema's
    assert (
        "n_steps 512 shrunk to n_steps 128 so one rollout fits the first halving rung (1,024 steps)"
        in plan.budget_note
    )
    job = plan.job(Path("/tmp/x"), None, label="c")
    assert job.hyperparams == plan.hyperparams and job.schema_hyperparams is False
    no_halving = TrainPlan.from_config(cfg.model_copy(update={"halving": False}), schema)
    assert no_halving.hyperparams["n_steps"] == 512 and no_halving.budget_note == ""


def test_a_first_rung_of_few_rollouts_is_said() -> None:
    from autoreward.config import RunConfig
    from autoreward.envs.registry import load_schema
    from autoreward.loop.candidates import TrainPlan

    schema = load_schema("Acrobot-v1")  # PPO, n_steps 512 on 8 envs: rollouts of 4,096 steps
    cfg = RunConfig(env_id="Acrobot-v1", task="x", steps=32768, samples=3, rung_fraction=0.25)
    plan = TrainPlan.from_config(cfg, schema)  # rung 8,192 steps: 2 rollouts
    assert plan.budget_note.endswith(
        "the first halving rung (8,192 steps) trains 2 rollouts, 2 policy updates of 4,096 "
        "steps (8 envs × n_steps 512): its ranking is mostly noise; more --steps or a smaller "
        "n_steps (--hyperparams n_steps=...) gives it more"
    )
    roomy = TrainPlan.from_config(cfg.model_copy(update={"steps": 65536}), schema)  # 4 rollouts
    assert "first halving rung" not in roomy.budget_note
    alone = TrainPlan.from_config(cfg.model_copy(update={"halving": False}), schema)
    assert "first halving rung" not in alone.budget_note
