"""Hyperparameters: from YAML-friendly values (schema, suite, run YAML, command line, RL Zoo
file) to checked stable-baselines3 constructor kwargs, and the policy for an observation space.

Accepted beyond plain SB3 kwargs, in the rl-baselines3-zoo spelling:
- schedules `"lin_0.001"` (linear decay from the value to 0) for `learning_rate`/`clip_range`;
- `policy_kwargs` as a mapping or as RL Zoo's string `"dict(net_arch=[64, 64], activation_fn=nn.Tanh)"`
  (parsed as data, never evaluated; class names come from a small allow-list);
- `action_noise: "normal_0.1"` or `"ornstein-uhlenbeck_0.1"` (SAC/TD3 on continuous actions);
- `normalize: true | {norm_obs, norm_reward, ...}` → a `VecNormalize` wrapper (not a kwarg);
- `policy: MlpPolicy | CnnPolicy | MultiInputPolicy`; left out, it follows the observation
  space (`choose_policy`).

`check_hyperparams` runs in the parent before any work (names and values, with errors naming
what the algorithm accepts); `resolve_hyperparams` runs in the training worker.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

from autoreward.errors import ConfigError
from autoreward.train.sb3.literal import parse_literal

ALGO_NAMES = ("PPO", "SAC", "TD3", "A2C", "DQN")
OFF_POLICY = ("SAC", "TD3", "DQN")
POLICIES = ("MlpPolicy", "CnnPolicy", "MultiInputPolicy")
EXTRA_KEYS = ("policy", "normalize")
"""Hyperparameters that are not SB3 constructor arguments but are understood here."""
SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")

# Constructor arguments autoreward sets itself, and what to use instead.
_MANAGED = {
    "env": "the environment comes from --env",
    "seed": "use --seed (seed: in a run YAML)",
    "device": "use --device (device: in a run YAML)",
    "verbose": "autoreward trains quietly and shows its own progress",
    "tensorboard_log": "TensorBoard logs are written to <job folder>/tb (--no-tensorboard to turn off)",
    "_init_setup_model": "internal to stable-baselines3",
}
# Names users (and RL Zoo files) put among hyperparameters that are options of their own here.
_OPTIONS = {
    "n_envs": "use --n-envs (n_envs: at the top level of a run YAML or suite task)",
    "n_timesteps": "use --steps (steps: at the top level of a run YAML or suite task)",
    "total_timesteps": "use --steps (steps: at the top level of a run YAML or suite task)",
}

# Class-valued policy_kwargs: the only names a hyperparameter may spell (last dotted part, so
# `nn.Tanh`, `th.nn.Tanh` and `torch.nn.Tanh` are the same), with where each lives.
_CLASSES: dict[str, dict[str, str]] = {
    "activation_fn": {
        n: "torch.nn"
        for n in (
            "Tanh",
            "ReLU",
            "ELU",
            "LeakyReLU",
            "GELU",
            "SiLU",
            "SELU",
            "Sigmoid",
            "Softplus",
            "Mish",
            "Identity",
        )
    },
    "optimizer_class": {
        **{n: "torch.optim" for n in ("Adam", "AdamW", "RMSprop", "SGD")},
        "RMSpropTFLike": "stable_baselines3.common.sb2_compat.rmsprop_tf_like",
    },
    "features_extractor_class": {
        n: "stable_baselines3.common.torch_layers"
        for n in ("NatureCNN", "FlattenExtractor", "CombinedExtractor")
    },
}
_LOWER_ALIASES = {"leaky_relu": "LeakyReLU", "silu": "SiLU", "selu": "SELU", "gelu": "GELU",
                  "elu": "ELU", "relu": "ReLU"}  # fmt: skip


# =========================================================================== algorithms


def algo_class(name: str) -> type[BaseAlgorithm]:
    """The stable-baselines3 class for an algorithm name (case-insensitive)."""
    import stable_baselines3 as sb3

    upper = name.upper()
    if upper not in ALGO_NAMES:
        raise ConfigError(f"unknown algorithm '{name}'", hint=f"use one of {', '.join(ALGO_NAMES)}")
    cls: type[BaseAlgorithm] = getattr(sb3, upper)
    return cls


def job_hyperparams(job: Any, schema: Any, algo: str) -> dict[str, Any]:
    """The raw hyperparameters of a job as `effective_hyperparams` merges them: training and
    evaluation (which rebuilds the policy from them) build the same model."""
    return effective_hyperparams(
        schema.train.hyperparams, schema.train.algo, algo, job.hyperparams, job.schema_hyperparams
    )


@functools.lru_cache(maxsize=8)
def accepted_arguments(algo: str) -> tuple[str, ...]:
    """The constructor arguments of `algo` a hyperparameter may set (SB3's own signature)."""
    params = inspect.signature(algo_class(algo).__init__).parameters
    return tuple(n for n in params if n not in ("self", "policy") and n not in _MANAGED)


@functools.lru_cache(maxsize=8)
def policy_arguments(algo: str) -> tuple[str, ...]:
    """The `policy_kwargs` names of `algo`'s policies (its MlpPolicy's signature)."""
    cls = algo_class(algo).policy_aliases["MlpPolicy"]
    skip = ("self", "observation_space", "action_space", "lr_schedule")
    return tuple(n for n in inspect.signature(cls.__init__).parameters if n not in skip)


def linear_schedule(initial: float) -> Callable[[float], float]:
    """SB3 schedule: `progress_remaining` goes 1 → 0, so the value decays linearly to 0."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial

    return schedule


# =========================================================================== policies


def choose_policy(space: spaces.Space) -> tuple[str, str]:
    """`(policy, why)` for an observation space: MultiInputPolicy for a Dict, CnnPolicy for an
    image Box (SB3's `is_image_space`: uint8, 3 dimensions, bounds 0..255), else MlpPolicy."""
    from stable_baselines3.common.preprocessing import is_image_space

    if isinstance(space, spaces.Dict):
        return "MultiInputPolicy", "the observation is a Dict"
    if is_image_space(space, check_channels=False):
        return "CnnPolicy", f"the observation is an image {tuple(space.shape or ())} uint8"
    return "MlpPolicy", "the observation is a vector"


def check_policy(policy: str, space: spaces.Space) -> None:
    """A ConfigError when `policy` cannot take `space` (the error SB3 would raise, earlier and
    with the policy to use instead)."""
    from stable_baselines3.common.preprocessing import is_image_space

    if policy not in POLICIES:
        raise ConfigError(f"unknown policy '{policy}'", hint=f"use one of {', '.join(POLICIES)}")
    fits, _ = choose_policy(space)
    if policy == "MultiInputPolicy" and not isinstance(space, spaces.Dict):
        problem = "MultiInputPolicy needs a Dict observation"
    elif policy != "MultiInputPolicy" and isinstance(space, spaces.Dict):
        problem = f"{policy} cannot take a Dict observation"
    elif policy == "CnnPolicy" and not is_image_space(space, check_channels=False):
        problem = "CnnPolicy needs an image observation (uint8 Box of 3 dimensions, bounds 0..255)"
    else:
        return
    raise ConfigError(f"policy {policy} does not fit the observation space {space}: {problem}",
                      hint=f"use policy {fits}, or leave policy unset to choose it from the space")  # fmt: skip


# =========================================================================== checking


def check_hyperparams(algo: str, params: Mapping[str, Any], where: str = "hyperparams") -> None:
    """Every name and value of `params` for `algo`, before any work: unknown names are errors
    naming what the algorithm accepts; schedules, policy_kwargs, normalize and noise are parsed."""
    accepted = accepted_arguments(algo)
    for key, value in params.items():
        if key in _MANAGED:
            raise ConfigError(f"{where}: '{key}' is set by autoreward", hint=_MANAGED[key])
        if key in _OPTIONS:
            raise ConfigError(
                f"{where}: '{key}' is not a {algo} hyperparameter", hint=_OPTIONS[key]
            )
        if key not in accepted and key not in EXTRA_KEYS:
            close = difflib.get_close_matches(key, [*accepted, *EXTRA_KEYS], n=1)
            maybe = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"{where}: unknown {algo} hyperparameter '{key}'{maybe}",
                hint=f"{algo} accepts {', '.join(accepted)}; and policy, normalize",
            )
        if key == "policy" and value not in POLICIES:
            raise ConfigError(
                f"{where}: unknown policy {value!r}", hint=f"use one of {', '.join(POLICIES)}"
            )
        if key in SCHEDULE_KEYS and isinstance(value, str):
            _schedule(key, value)
    if "policy_kwargs" in params:
        _check_policy_kwargs(algo, policy_kwargs_data(params["policy_kwargs"]), where)
    _normalize_kwargs(params.get("normalize", False))
    noise = params.get("action_noise")
    if noise is not None:
        if algo.upper() not in ("SAC", "TD3"):
            raise ConfigError(
                f"{where}: action_noise only applies to SAC/TD3 on continuous actions, not {algo}"
            )
        _parse_noise(noise)


def _check_policy_kwargs(algo: str, kwargs: dict[str, Any], where: str) -> None:
    accepted = policy_arguments(algo)
    for key, value in kwargs.items():
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            maybe = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown policy_kwargs entry '{key}' for {algo}{maybe}",
                              hint=f"{algo} policies accept {', '.join(accepted)}")  # fmt: skip
        if key in _CLASSES:
            class_name(key, value)


def policy_kwargs_data(value: Any) -> dict[str, Any]:
    """policy_kwargs as plain data: a mapping as it is, an RL Zoo string parsed (not evaluated)."""
    if isinstance(value, str):
        value = parse_literal(value, "policy_kwargs")
    if not isinstance(value, dict):
        raise ConfigError(
            f"hyperparameter 'policy_kwargs' must be a mapping, got {type(value).__name__}",
            hint='e.g. policy_kwargs: {net_arch: [64, 64], activation_fn: tanh} or "dict(net_arch=[64, 64])"',
        )
    return dict(value)


def class_name(key: str, value: Any) -> str:
    """The allow-listed class a `policy_kwargs` name spells: 'nn.Tanh', 'tanh' → 'Tanh'."""
    allowed = _CLASSES[key]
    text = str(value).rsplit(".", 1)[-1]
    name = _LOWER_ALIASES.get(text.lower(), text)
    by_lower = {n.lower(): n for n in allowed}
    name = by_lower.get(name.lower(), name)
    if not isinstance(value, str) or name not in allowed:
        raise ConfigError(f"unknown {key} {value!r}", hint=f"use one of {', '.join(allowed)}")
    return name


def resolve_class(key: str, value: Any) -> type:
    """The class object for an allow-listed name (imported from its fixed module)."""
    import importlib

    name = class_name(key, value)
    cls: type = getattr(importlib.import_module(_CLASSES[key][name]), name)
    return cls


def check_training_options(
    algo: str, hyperparams: Mapping[str, Any], schema: Any, where: str = "hyperparams"
) -> None:
    """The algorithm against the schema's action, `check_hyperparams`, and an explicit `policy`
    against the env's real observation space (the env is built once for that)."""
    discrete = schema.action.n is not None
    if algo.upper() in ("SAC", "TD3") and discrete:
        raise ConfigError(f"{algo} needs continuous actions; {schema.env_id} has {schema.action.n} discrete ones",
                          hint="use PPO, A2C or DQN")  # fmt: skip
    if algo.upper() == "DQN" and not discrete:
        raise ConfigError(f"DQN needs discrete actions; {schema.env_id} has continuous ones",
                          hint="use PPO, A2C, SAC or TD3")  # fmt: skip
    check_hyperparams(algo, hyperparams, where)
    if "policy" in hyperparams:
        from autoreward.envs.extract import make_base_env

        env = make_base_env(schema.env_id, schema.make_kwargs)
        try:
            check_policy(str(hyperparams["policy"]), env.observation_space)
        finally:
            env.close()


# =========================================================================== merging


def effective_hyperparams(
    schema_defaults: Mapping[str, Any],
    schema_algo: str,
    algo: str,
    overrides: Mapping[str, Any],
    use_schema: bool = True,
) -> dict[str, Any]:
    """What trains: the schema's defaults (only for the algorithm they were written for, and
    not when the set came from a hyperparameter file) with `overrides` over them, key by key."""
    base = dict(schema_defaults) if use_schema and algo == schema_algo else {}
    return {**base, **overrides}


# =========================================================================== the worker side


def resolve_hyperparams(
    algo: str,
    raw: dict[str, Any],
    action_space: spaces.Space,
    observation_space: spaces.Space | None = None,
) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """Return `(policy, sb3_kwargs, vecnormalize_kwargs or None)` from a merged hyperparam dict."""
    params = dict(raw)
    policy = params.pop("policy", None)
    if policy is None:
        policy = (
            choose_policy(observation_space)[0] if observation_space is not None else "MlpPolicy"
        )
    elif observation_space is not None:
        check_policy(str(policy), observation_space)
    norm_kwargs = _normalize_kwargs(params.pop("normalize", False))
    for key in SCHEDULE_KEYS:
        if isinstance(params.get(key), str):
            params[key] = _schedule(key, params[key])
    if "policy_kwargs" in params:
        params["policy_kwargs"] = _policy_kwargs(params["policy_kwargs"])
    if "action_noise" in params:
        params["action_noise"] = _action_noise(params["action_noise"], algo, action_space)
    if "train_freq" in params and isinstance(params["train_freq"], list):
        params["train_freq"] = tuple(params["train_freq"])
    return str(policy), params, norm_kwargs


def _normalize_kwargs(normalize: Any) -> dict[str, Any] | None:
    if isinstance(normalize, str):  # RL Zoo: "dict(norm_obs=True, norm_reward=False)"
        normalize = parse_literal(normalize, "normalize")
    if normalize is True:
        return {}
    if isinstance(normalize, dict):
        return dict(normalize)
    if normalize in (False, None):
        return None
    raise ConfigError(f"hyperparameter 'normalize' must be true/false or a dict, got {normalize!r}")


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
    kwargs = policy_kwargs_data(value)
    for key in _CLASSES:
        if isinstance(kwargs.get(key), str):
            kwargs[key] = resolve_class(key, kwargs[key])
    return kwargs


def _parse_noise(value: Any) -> tuple[str, float]:
    text = str(value)
    kind, _, sigma_text = text.rpartition("_")
    try:
        sigma = float(sigma_text)
    except ValueError:
        kind = ""
    if kind not in ("normal", "ornstein-uhlenbeck"):
        raise ConfigError(
            f"action_noise {value!r} not understood",
            hint="write 'normal_<sigma>' or 'ornstein-uhlenbeck_<sigma>'",
        )
    return kind, sigma


def _action_noise(value: Any, algo: str, action_space: spaces.Space) -> Any:
    if value is None or not isinstance(value, str):
        return value
    if algo.upper() not in ("SAC", "TD3") or not isinstance(action_space, spaces.Box):
        raise ConfigError(f"action_noise only applies to SAC/TD3 on continuous actions, not {algo}")
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    kind, sigma = _parse_noise(value)
    dim = int(np.prod(action_space.shape))
    noise_cls = NormalActionNoise if kind == "normal" else OrnsteinUhlenbeckActionNoise
    return noise_cls(mean=np.zeros(dim), sigma=sigma * np.ones(dim))


# =========================================================================== command line


def parse_assignments(items: list[str], policy: str | None = None) -> dict[str, Any]:
    """`--hyperparams KEY=VALUE` options (values read as YAML: `n_steps=256`,
    `policy_kwargs={net_arch: [64, 64]}`, `learning_rate=lin_3e-4`) and `--policy NAME`."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise ConfigError(f"--hyperparams {item!r}: expected KEY=VALUE",
                              hint="e.g. --hyperparams n_steps=256 --hyperparams learning_rate=lin_3e-4")  # fmt: skip
        try:
            out[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(
                f"--hyperparams {item!r}: the value is not valid YAML ({err})"
            ) from None
    if policy is not None:
        out["policy"] = policy
    return out
