"""The rsl-rl actor of a `--backend warp` job: its configuration, its pickle-free weights and the
predictor that acts with it on the gymnasium env (where the fitness is measured).

One place says what the networks are (`runner_config` from a job's `RslRlHyperparams`): the
trainer builds rsl-rl's runner from it, the evaluation container rebuilds the same actor from the
same job and loads the weights the training container saved (`policy/*.npz`: the actor's
`state_dict`, including its observation normaliser's running mean and std), checked name by name
and shape by shape. `RslRlPredictor.predict(obs, deterministic)` is what `evaluate_policy` and
the video call, as they call an SB3 model's; its actions are clipped to the action bounds, as the
batched env clips them for the actuators (and as SB3 clips a Box action).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autoreward.envs.rslrl_settings import RslRlHyperparams, merged_rslrl_hyperparams
from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError
from autoreward.train.job import TrainJob
from autoreward.train.policy_io import PARAM_PREFIX, saved_parameters, write_policy_npz

OBS_GROUP = "policy"
_META = "meta.backend"
BACKEND_TAG = "rsl_rl"


def job_rslrl_hyperparams(job: TrainJob, schema: EnvSchema) -> RslRlHyperparams:
    """The job's rsl-rl settings: its `hyperparams` over the schema's `simulation.train` ones
    (over rsl-rl's defaults alone when `schema_hyperparams` is False: then they are complete)."""
    base = RslRlHyperparams()
    if job.schema_hyperparams and schema.simulation is not None:
        base = schema.simulation.train.hyperparams
    return merged_rslrl_hyperparams(base, job.hyperparams, "hyperparams")


def actor_config(hp: RslRlHyperparams) -> dict[str, Any]:
    return {
        "class_name": "MLPModel",
        "hidden_dims": list(hp.actor_hidden_dims),
        "activation": hp.activation,
        "obs_normalization": hp.obs_normalization,
        "distribution_cfg": {
            "class_name": "GaussianDistribution",
            "init_std": hp.init_noise_std,
            "std_type": "scalar",
        },
    }


def runner_config(hp: RslRlHyperparams) -> dict[str, Any]:
    """rsl-rl's `OnPolicyRunner` configuration (the `train_cfg` dict) for `hp`."""
    return {
        "num_steps_per_env": hp.num_steps_per_env,
        "save_interval": 10**12,  # checkpoints are written by the trainer, not the runner
        "check_for_nan": True,
        "obs_groups": {"actor": [OBS_GROUP], "critic": [OBS_GROUP]},
        "algorithm": {
            "class_name": "PPO",
            "learning_rate": hp.learning_rate,
            "schedule": hp.schedule,
            "desired_kl": hp.desired_kl,
            "num_learning_epochs": hp.num_learning_epochs,
            "num_mini_batches": hp.num_mini_batches,
            "clip_param": hp.clip_param,
            "entropy_coef": hp.entropy_coef,
            "value_loss_coef": hp.value_loss_coef,
            "use_clipped_value_loss": hp.use_clipped_value_loss,
            "gamma": hp.gamma,
            "lam": hp.lam,
            "max_grad_norm": hp.max_grad_norm,
        },
        "actor": actor_config(hp),
        "critic": {
            "class_name": "MLPModel",
            "hidden_dims": list(hp.critic_hidden_dims),
            "activation": hp.activation,
            "obs_normalization": hp.obs_normalization,
        },
    }


def describe_policy(hp: RslRlHyperparams) -> str:
    """How train.json names the networks."""
    norm = ", observations normalised" if hp.obs_normalization else ""
    return (
        f"rsl-rl MLP actor {hp.actor_hidden_dims} / critic {hp.critic_hidden_dims} "
        f"({hp.activation}{norm})"
    )


def build_actor(obs_dim: int, num_actions: int, hp: RslRlHyperparams) -> Any:
    """A fresh rsl-rl actor (`MLPModel`) as the trainer's runner builds it."""
    import torch
    from rsl_rl.models import MLPModel
    from tensordict import TensorDict

    cfg = actor_config(hp)
    cfg.pop("class_name")
    obs = TensorDict({OBS_GROUP: torch.zeros(1, obs_dim)}, batch_size=[1])
    return MLPModel(obs, {"actor": [OBS_GROUP]}, "actor", num_actions, **cfg)


def save_actor(actor: Any, path: Path) -> Path:
    """The actor's `state_dict` (weights, action std, normaliser statistics) as one npz (atomic)."""
    arrays: dict[str, np.ndarray] = {
        PARAM_PREFIX + name: value.detach().cpu().numpy()
        for name, value in actor.state_dict().items()
    }
    arrays[_META] = np.array(BACKEND_TAG)
    return write_policy_npz(path, arrays)


class RslRlPredictor:
    """An rsl-rl actor behind SB3's `predict` (numpy observations in, clipped actions out)."""

    def __init__(self, actor: Any, low: np.ndarray, high: np.ndarray, seed: int = 0) -> None:
        import torch

        self.actor = actor.eval()
        self.low, self.high = low.astype(np.float32), high.astype(np.float32)
        self._generator = torch.Generator().manual_seed(seed)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        import torch
        from tensordict import TensorDict

        batch = np.asarray(obs, dtype=np.float32)
        single = batch.ndim == 1
        if single:
            batch = batch[None]
        x = torch.as_tensor(batch)
        with torch.inference_mode():
            td = TensorDict({OBS_GROUP: x}, batch_size=[len(x)])
            if deterministic:
                actions = self.actor(td)
            else:
                self.actor(td, stochastic_output=True)  # sets the distribution
                mean, std = self.actor.output_distribution_params
                noise = torch.randn(mean.shape, generator=self._generator)
                actions = mean + std * noise
        out = np.clip(actions.numpy().astype(np.float32), self.low, self.high)
        return (out[0] if single else out), None


def load_rslrl_policy(job: TrainJob, schema: EnvSchema, path: Path) -> RslRlPredictor:
    """The job's actor rebuilt from its hyperparameters, weights from `path` (untrusted: loaded
    without pickles, every tensor checked against the architecture the job describes)."""
    from gymnasium import spaces

    from autoreward.envs.extract import make_env
    from autoreward.sandbox.untrusted import load_npz

    arrays = load_npz(path)
    tag = arrays.get(_META)
    if tag is None or str(tag) != BACKEND_TAG:
        raise ConfigError(f"{path}: not an rsl-rl policy (the job says --backend warp)")
    env = make_env(schema, seed=job.seed)
    try:
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(act_space, spaces.Box) or obs_space.shape is None:
            raise ConfigError(f"{schema.env_id}: an rsl-rl actor needs a flat observation and "
                              "continuous actions")  # fmt: skip
        obs_dim = int(np.prod(obs_space.shape))
        low = np.asarray(act_space.low, dtype=np.float64)
        high = np.asarray(act_space.high, dtype=np.float64)
        num_actions = int(np.prod(act_space.shape))
    finally:
        env.close()
    actor = build_actor(obs_dim, num_actions, job_rslrl_hyperparams(job, schema))
    tensors = saved_parameters(arrays, actor.state_dict(), path, "rsl-rl actor",
                               f" (observation size {obs_dim} on gymnasium)")  # fmt: skip
    actor.load_state_dict(tensors, strict=True)
    return RslRlPredictor(actor, low, high, seed=job.seed)
