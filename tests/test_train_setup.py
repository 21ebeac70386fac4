"""The training setup as the prompts show it: resolved hyperparameters (the schema's, else
SB3's defaults), the discount's horizon, normalisation and the halving rung."""

from __future__ import annotations

import pytest

from autoreward.agents.base import training_prompt
from autoreward.config import RunConfig
from autoreward.envs.registry import load_schema
from autoreward.loop.setup import build_agents_inputs
from autoreward.train.setup import resolve_setup, sb3_defaults


def test_schema_hyperparameters_apply_to_their_own_algorithm_only() -> None:
    schema = load_schema("CartPole-v1")  # PPO, gamma 0.98, n_steps 32
    ppo = resolve_setup(schema, algo="PPO", total_steps=50_000, n_envs=8)
    assert ppo.gamma == 0.98 and ppo.hyperparams["n_steps"] == 32
    a2c = resolve_setup(schema, algo="A2C", total_steps=50_000, n_envs=8)
    assert a2c.gamma == sb3_defaults("A2C")["gamma"] == 0.99
    assert a2c.hyperparams["n_steps"] == sb3_defaults("A2C")["n_steps"]


def test_normalize_and_job_overrides() -> None:
    schema = load_schema("CartPole-v1")
    setup = resolve_setup(
        schema,
        algo="PPO",
        total_steps=1000,
        n_envs=1,
        hyperparams={"gamma": 0.9, "normalize": True},
    )
    assert setup.gamma == 0.9 and setup.obs_normalized and setup.reward_normalized
    only_obs = resolve_setup(schema, algo="PPO", total_steps=1000, n_envs=1,
                             hyperparams={"normalize": {"norm_reward": False}})  # fmt: skip
    assert only_obs.obs_normalized and not only_obs.reward_normalized


def test_the_run_setup_reaches_the_prompt_text() -> None:
    cfg = RunConfig(env_id="CartPole-v1", task="balance", steps=40_000, samples=4)
    inputs = build_agents_inputs(cfg)
    setup = inputs.setup
    assert (setup.algo, setup.total_steps, setup.n_envs, setup.episode_length) == (
        "PPO",
        40_000,
        8,
        500,
    )
    assert (setup.rung_steps, setup.keep, setup.candidates) == (10_000, 2, 4)
    assert setup.control_dt == pytest.approx(0.02)  # CartPole's declared time step
    text = inputs.training.text
    assert (
        "with PPO (stable-baselines3) for\n40,000 environment steps in all, over 8 parallel" in text
    )
    assert "about\n80 episodes of the maximum length" in text
    assert (
        "- gamma = 0.98 (discount)" in text and "- n_steps = 32 (steps per env per rollout)" in text
    )
    assert "effective horizon of about 50 steps (1 s of simulated time)" in text
    assert "all 4 candidates of an iteration first train 10,000\nsteps" in text
    # generated rewards train with return normalization by default; observations stay raw
    assert "the reward's total is divided by a running estimate of the return's scale" in text
    assert "so its overall scale does not matter" in text and "own units" in text
    assert "observations are normalised" not in text and "used as it is" not in text


def test_no_rung_without_halving_and_mujoco_step_time() -> None:
    cfg = RunConfig(env_id="Hopper-v5", task="hop", steps=20_000, samples=4, halving=False)
    setup = build_agents_inputs(cfg).setup
    assert setup.rung_steps is None and setup.control_dt == pytest.approx(0.008)
    assert "Successive halving" not in training_prompt(setup).text
    single = build_agents_inputs(cfg.model_copy(update={"samples": 1, "halving": True})).setup
    assert single.rung_steps is None, "one candidate trains in full"


def test_without_return_normalization_the_prompt_says_the_scale_matters() -> None:
    cfg = RunConfig(env_id="CartPole-v1", task="balance", steps=40_000, normalize=False)
    text = build_agents_inputs(cfg).training.text
    assert "the reward's total is used as it is, with no return normalisation" in text
    assert "its overall scale matters" in text and "running estimate" not in text
