"""Turn schema/config hyperparameters (YAML-friendly values) into SB3 constructor kwargs.

Accepted beyond plain SB3 kwargs, in the rl-baselines3-zoo spelling:
- schedules `"lin_0.001"` (linear decay from the value to 0) for `learning_rate`/`clip_range`;
- `policy_kwargs.activation_fn` as a name (`"tanh"`, `"relu"`, ...);
- `action_noise: "normal_0.1"` or `"ornstein-uhlenbeck_0.1"` (off-policy algorithms);
- `normalize: true | {norm_obs, norm_reward, ...}` → a `VecNormalize` wrapper (not a kwarg);
- `policy: "MlpPolicy"` (the default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

from autoreward.errors import ConfigError

ALGO_NAMES = ("PPO", "SAC", "TD3", "A2C", "DQN")
OFF_POLICY = ("SAC", "TD3", "DQN")

_ACTIVATIONS = {
    "tanh": "Tanh",
    "relu": "ReLU",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
}


def algo_class(name: str) -> type[BaseAlgorithm]:
    """The stable-baselines3 class for an algorithm name (case-insensitive)."""
    import stable_baselines3 as sb3

    upper = name.upper()
    if upper not in ALGO_NAMES:
        raise ConfigError(f"unknown algorithm '{name}'", hint=f"use one of {', '.join(ALGO_NAMES)}")
    cls: type[BaseAlgorithm] = getattr(sb3, upper)
    return cls


def job_hyperparams(job: Any, schema: Any, algo: str) -> dict[str, Any]:
    """The raw hyperparameters of a job: the schema's (when the job uses the schema's
    algorithm), with the job's own on top. Training and evaluation build the same model."""
    raw = dict(schema.train.hyperparams) if algo == schema.train.algo else {}
    raw.update(job.hyperparams)
    return raw


def linear_schedule(initial: float) -> Callable[[float], float]:
    """SB3 schedule: `progress_remaining` goes 1 → 0, so the value decays linearly to 0."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial

    return schedule


def resolve_hyperparams(
    algo: str, raw: dict[str, Any], action_space: spaces.Space
) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """Return `(policy, sb3_kwargs, vecnormalize_kwargs or None)` from a merged hyperparam dict."""
    params = dict(raw)
    policy = str(params.pop("policy", "MlpPolicy"))
    normalize = params.pop("normalize", False)
    norm_kwargs: dict[str, Any] | None
    if normalize is True:
        norm_kwargs = {}
    elif isinstance(normalize, dict):
        norm_kwargs = dict(normalize)
    elif normalize in (False, None):
        norm_kwargs = None
    else:
        raise ConfigError(
            f"hyperparameter 'normalize' must be true/false or a dict, got {normalize!r}"
        )

    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if isinstance(params.get(key), str):
            params[key] = _schedule(key, params[key])
    if "policy_kwargs" in params:
        params["policy_kwargs"] = _policy_kwargs(params["policy_kwargs"])
    if "action_noise" in params:
        params["action_noise"] = _action_noise(params["action_noise"], algo, action_space)
    if "train_freq" in params and isinstance(params["train_freq"], list):
        params["train_freq"] = tuple(params["train_freq"])
    return policy, params, norm_kwargs


def _schedule(key: str, value: str) -> Callable[[float], float] | float:
    kind, _, number = value.partition("_")
    try:
        initial = float(number if kind == "lin" else value)
    except ValueError:
        raise ConfigError(
            f"hyperparameter '{key}' = {value!r} is neither a number nor a schedule",
            hint="write a float or 'lin_<float>' (linear decay to 0)",
        ) from None
    return linear_schedule(initial) if kind == "lin" else initial


def _policy_kwargs(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"hyperparameter 'policy_kwargs' must be a mapping, got {type(value).__name__}",
            hint="e.g. policy_kwargs: {net_arch: [64, 64], activation_fn: tanh}",
        )
    kwargs = dict(value)
    act = kwargs.get("activation_fn")
    if isinstance(act, str):
        import torch.nn as nn

        name = _ACTIVATIONS.get(act.lower())
        if name is None:
            raise ConfigError(
                f"unknown activation_fn '{act}'", hint=f"use one of {', '.join(_ACTIVATIONS)}"
            )
        kwargs["activation_fn"] = getattr(nn, name)
    return kwargs


def _action_noise(value: Any, algo: str, action_space: spaces.Space) -> Any:
    if value is None or not isinstance(value, str):
        return value
    if algo.upper() not in ("SAC", "TD3") or not isinstance(action_space, spaces.Box):
        raise ConfigError(f"action_noise only applies to SAC/TD3 on continuous actions, not {algo}")
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    kind, _, sigma_text = value.rpartition("_")
    try:
        sigma = float(sigma_text)
    except ValueError:
        raise ConfigError(
            f"action_noise {value!r} not understood",
            hint="write 'normal_<sigma>' or 'ornstein-uhlenbeck_<sigma>'",
        ) from None
    dim = int(np.prod(action_space.shape))
    noise_cls = {
        "normal": NormalActionNoise,
        "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise,
    }.get(kind)
    if noise_cls is None:
        raise ConfigError(
            f"action_noise kind '{kind}' not understood",
            hint="write 'normal_<sigma>' or 'ornstein-uhlenbeck_<sigma>'",
        )
    return noise_cls(mean=np.zeros(dim), sigma=sigma * np.ones(dim))
