"""RL Zoo hyperparameter files as input (`--hyperparams-file ppo.yml`).

The format is rl-baselines3-zoo's `hyperparams/<algo>.yml`: one entry per env id (or
`default`), each a mapping of SB3 constructor arguments plus `n_timesteps`, `n_envs`,
`policy`, `normalize`, and Python-literal strings such as
`policy_kwargs: "dict(net_arch=[64, 64], activation_fn=nn.Tanh)"` (parsed as data here, never
evaluated) and schedules `lin_3e-4`. `noise_type`/`noise_std` become `action_noise`.

What the zoo does with env wrappers, frame stacking, callbacks or custom classes is not done
here: those keys are errors that say so, rather than silently training something else.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from autoreward.errors import ConfigError
from autoreward.train.sb3.hyperparams import policy_kwargs_data
from autoreward.train.sb3.literal import parse_literal

_UNSUPPORTED = {
    "env_wrapper": "autoreward builds the env itself (its state is read from the bare env)",
    "vec_env_wrapper": "autoreward builds the VecEnv itself (the reward wrapper sits on it)",
    "frame_stack": "frame stacking is not applied",
    "callback": "training callbacks are autoreward's own",
    "monitor_kwargs": "episodes are recorded by autoreward's reward wrapper",
    "env_kwargs": "put make_kwargs in an env schema YAML instead",
    "replay_buffer_class": "only SB3's default replay buffer is used",
}
_LITERAL_KEYS = ("replay_buffer_kwargs",)


class ZooEntry(BaseModel):
    """One env's entry of an RL Zoo file, as autoreward options."""

    path: str
    key: str
    hyperparams: dict[str, Any]
    steps: int | None = None
    n_envs: int | None = None


def load_zoo_entry(path: str | Path, env_id: str) -> ZooEntry:
    """The entry for `env_id` (or the file's `default` entry) of an RL Zoo hyperparameter file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read hyperparameter file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(
            f"{path}: not an RL Zoo hyperparameter file (expected a mapping of env ids to mappings)",
            hint="see rl-baselines3-zoo's hyperparams/ppo.yml for the format",
        )
    key = env_id if env_id in data else "default" if "default" in data else None
    if key is None:
        close = difflib.get_close_matches(env_id, [str(k) for k in data], n=3)
        raise ConfigError(
            f"{path} has no entry for {env_id} (and no 'default' entry)",
            hint=("did you mean " + ", ".join(close) + "?")
            if close
            else f"its entries: {', '.join(str(k) for k in list(data)[:20])}",
        )
    return _entry(path, str(key), dict(data[key]))


def _entry(path: Path, key: str, raw: dict[str, Any]) -> ZooEntry:
    where = f"{path}: {key}"
    for name, why in _UNSUPPORTED.items():
        if name in raw:
            raise ConfigError(f"{where}: RL Zoo's '{name}' is not supported: {why}",
                              hint=f"remove '{name}' from a copy of the file")  # fmt: skip
    params = dict(raw)
    steps = params.pop("n_timesteps", None)
    n_envs = params.pop("n_envs", None)
    policy = params.get("policy")
    if isinstance(policy, str) and "." in policy:
        raise ConfigError(f"{where}: custom policy class '{policy}' is not supported",
                          hint="use MlpPolicy, CnnPolicy or MultiInputPolicy")  # fmt: skip
    if "policy_kwargs" in params:
        params["policy_kwargs"] = policy_kwargs_data(params["policy_kwargs"])
    if isinstance(params.get("normalize"), str):
        params["normalize"] = parse_literal(params["normalize"], f"{where}: normalize")
    for name in _LITERAL_KEYS:
        if isinstance(params.get(name), str):
            params[name] = parse_literal(params[name], f"{where}: {name}")
    noise_type, noise_std = params.pop("noise_type", None), params.pop("noise_std", None)
    if noise_type is not None:
        if noise_std is None:
            raise ConfigError(f"{where}: noise_type without noise_std")
        params["action_noise"] = f"{str(noise_type).strip()}_{float(noise_std)}"
    try:
        return ZooEntry(
            path=str(path),
            key=key,
            hyperparams=params,
            steps=None if steps is None else int(float(steps)),
            n_envs=None if n_envs is None else int(n_envs),
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: n_timesteps/n_envs must be numbers ({err})") from None


def apply_zoo_file(options: dict[str, Any]) -> dict[str, Any]:
    """Run options with the file named by `hyperparams_file` read in: its hyperparameters
    under the explicit ones, its `n_timesteps`/`n_envs` where `steps`/`n_envs` are unset."""
    path = options.get("hyperparams_file")
    if not path:
        return options
    entry = load_zoo_entry(path, str(options.get("env_id") or ""))
    out = dict(options)
    out["hyperparams"] = {**entry.hyperparams, **(options.get("hyperparams") or {})}
    if out.get("steps") is None and entry.steps is not None:
        out["steps"] = entry.steps
    if out.get("n_envs") is None and entry.n_envs is not None:
        out["n_envs"] = entry.n_envs
    return out
