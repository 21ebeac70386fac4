"""The training setup of a run as the reward designer should know it: algorithm, budget,
parallel envs, the key hyperparameters as they will be used (the schema's, else
stable-baselines3's own defaults), the discount's horizon and the successive-halving rungs.

Resolved in the parent from the same inputs the training job gets; the defaults are read from
the SB3 constructors (`inspect.signature`), so they stay right when SB3 changes them.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from pydantic import BaseModel

from autoreward.envs.schema import EnvSchema

KEY_HYPERPARAMS: dict[str, tuple[str, ...]] = {
    "PPO": ("gamma", "gae_lambda", "n_steps", "batch_size", "n_epochs", "learning_rate", "ent_coef", "clip_range"),
    "A2C": ("gamma", "gae_lambda", "n_steps", "learning_rate", "ent_coef"),
    "SAC": ("gamma", "learning_rate", "buffer_size", "batch_size", "learning_starts", "train_freq", "gradient_steps", "tau", "ent_coef"),
    "TD3": ("gamma", "learning_rate", "buffer_size", "batch_size", "learning_starts", "train_freq", "gradient_steps", "tau"),
    "DQN": ("gamma", "learning_rate", "buffer_size", "batch_size", "learning_starts", "train_freq", "target_update_interval", "exploration_fraction", "exploration_final_eps"),
}  # fmt: skip
"""Per algorithm, the hyperparameters that decide what a reward can teach in the budget."""
RSLRL_KEY_HYPERPARAMS = ("gamma", "lam", "num_steps_per_env", "num_mini_batches", "num_learning_epochs", "learning_rate", "schedule", "entropy_coef", "clip_param")  # fmt: skip
"""The same for rsl-rl PPO (`--backend warp`)."""

MEANINGS = {
    "gamma": "discount",
    "gae_lambda": "GAE lambda",
    "n_steps": "steps per env per rollout",
    "batch_size": "minibatch size",
    "n_epochs": "epochs per update",
    "learning_rate": "learning rate",
    "ent_coef": "entropy bonus",
    "clip_range": "PPO clip range",
    "buffer_size": "replay buffer",
    "learning_starts": "random steps before learning",
    "train_freq": "steps between updates",
    "gradient_steps": "gradient steps per update",
    "tau": "target network soft update",
    "target_update_interval": "steps between target updates",
    "exploration_fraction": "fraction of training with decaying epsilon",
    "exploration_final_eps": "final epsilon",
    "lam": "GAE lambda",
    "num_steps_per_env": "steps per world per rollout",
    "num_mini_batches": "minibatches per update",
    "num_learning_epochs": "epochs per update",
    "schedule": "learning-rate schedule; adaptive follows a KL target",
    "entropy_coef": "entropy bonus",
    "clip_param": "PPO clip range",
}


class TrainingSetup(BaseModel):
    """What one candidate's training looks like, for the prompts."""

    algo: str
    total_steps: int
    n_envs: int
    episode_length: int | None
    hyperparams: dict[str, Any]
    """The key hyperparameters (`KEY_HYPERPARAMS`), as the trainer will use them."""
    gamma: float
    obs_normalized: bool = False
    reward_normalized: bool = False
    control_dt: float | None = None
    """Seconds per env step, when the physics says."""
    candidates: int = 1
    rung_steps: int | None = None
    """Steps of the first successive-halving rung; None when halving does not run."""
    keep: int | None = None
    trainer: str = "stable-baselines3"
    """The library that trains, and where (the prompts name it)."""
    normalizer: str = "VecNormalize"
    """What normalises observations/rewards when they are."""

    @property
    def horizon_steps(self) -> float:
        return math.inf if self.gamma >= 1 else 1.0 / (1.0 - self.gamma)

    @property
    def episodes(self) -> float | None:
        """About how many episodes of the maximum length the budget holds (None: no limit)."""
        return self.total_steps / self.episode_length if self.episode_length else None


def merged_hyperparams(
    schema: EnvSchema, algo: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The hyperparameters a job trains with before SB3 fills its defaults: the schema's
    (only when they are for this algorithm) under the job's own (as the trainer merges them)."""
    raw = dict(schema.train.hyperparams) if algo == schema.train.algo else {}
    raw.update(overrides or {})
    return raw


def sb3_defaults(algo: str) -> dict[str, Any]:
    """The constructor defaults of a stable-baselines3 algorithm."""
    from autoreward.train.sb3.hyperparams import algo_class

    params = inspect.signature(algo_class(algo).__init__).parameters
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def resolve_setup(
    schema: EnvSchema,
    *,
    algo: str,
    total_steps: int,
    n_envs: int,
    hyperparams: dict[str, Any] | None = None,
    candidates: int = 1,
    rung_steps: int | None = None,
    keep: int | None = None,
    control_dt: float | None = None,
    complete: bool = False,
    backend: str = "sb3",
) -> TrainingSetup:
    """The setup of a run; `rung_steps`/`keep` only when successive halving will run.
    `hyperparams`: the run's own over the schema's (`complete=True`: the whole set the jobs
    train with, e.g. a run plan's, fitted rollout included). `backend` warp: `hyperparams` are
    rsl-rl's (over the schema's `simulation.train` ones unless `complete`)."""
    if backend == "warp":
        return _rslrl_setup(
            schema, total_steps, n_envs, hyperparams or {}, complete,
            dict(candidates=candidates, rung_steps=rung_steps, keep=keep, control_dt=control_dt),
        )  # fmt: skip
    raw = dict(hyperparams or {}) if complete else merged_hyperparams(schema, algo, hyperparams)
    defaults = sb3_defaults(algo)
    key = {
        name: raw.get(name, defaults.get(name)) for name in KEY_HYPERPARAMS.get(algo, ("gamma",))
    }
    normalize = raw.get("normalize", False)
    norm = normalize if isinstance(normalize, dict) else ({} if normalize is True else None)
    return TrainingSetup(
        algo=algo,
        total_steps=total_steps,
        n_envs=n_envs,
        episode_length=schema.episode_length,
        hyperparams=key,
        gamma=float(key.get("gamma") or defaults.get("gamma", 0.99)),
        obs_normalized=norm is not None and bool(norm.get("norm_obs", True)),
        reward_normalized=norm is not None and bool(norm.get("norm_reward", True)),
        control_dt=control_dt,
        candidates=candidates,
        rung_steps=rung_steps,
        keep=keep,
    )


def _rslrl_setup(
    schema: EnvSchema,
    total_steps: int,
    worlds: int,
    hyperparams: dict[str, Any],
    complete: bool,
    common: dict[str, Any],
) -> TrainingSetup:
    from autoreward.envs.rslrl_settings import RslRlHyperparams, merged_rslrl_hyperparams

    base = RslRlHyperparams()
    if not complete and schema.simulation is not None:
        base = schema.simulation.train.hyperparams
    hp = merged_rslrl_hyperparams(base, hyperparams, "hyperparams")
    return TrainingSetup(
        algo="PPO", total_steps=total_steps, n_envs=worlds, episode_length=schema.episode_length,
        hyperparams={name: getattr(hp, name) for name in RSLRL_KEY_HYPERPARAMS},
        gamma=hp.gamma, obs_normalized=hp.obs_normalization, reward_normalized=False,
        trainer="rsl-rl, on the batched MuJoCo Warp simulator",
        normalizer="rsl-rl's empirical normalisation, inside the policy", **common,
    )  # fmt: skip
