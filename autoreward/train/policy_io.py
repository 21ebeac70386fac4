"""Policy weights without pickles: what crosses from a training container to everything else.

SB3's `model.zip` and `VecNormalize`'s `.pkl` hold pickles, and unpickling runs code: a
training job whose reward got unrestricted Python could plant anything in them. So a
training job also saves the policy as plain arrays (`policy/*.npz`: the policy's
`state_dict` and the observation normaliser's running statistics), and the evaluation
container, `autoreward play` and video rendering rebuild the policy from the job's own
hyperparameters and load those arrays with `allow_pickle=False`. `model.zip` is only ever
loaded again by the next training job of the same candidate, inside its container. The rsl-rl
backend's actor is saved and rebuilt the same way (`rslrl/policy.py`); this module is the format
both share, `sb3/policy.py` and `rslrl/policy.py` the two models, and `policies.load_policy`
picks the loader from the job's `backend`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autoreward.errors import ConfigError

POLICY_DIR = "policy"
FINAL = "final.npz"
PARAM_PREFIX = "param."
NORM_PREFIX = "norm."


def checkpoint_name(step: int) -> str:
    return f"step_{step:012d}.npz"


def step_of(name: str) -> int | None:
    """The training step a `checkpoint_name` file holds (None for `final.npz` and others)."""
    if name.startswith("step_") and name.endswith(".npz"):
        try:
            return int(name[5:-4])
        except ValueError:
            return None
    return None


def write_policy_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """`arrays` as an npz at `path`, written beside it and renamed in (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)
    return path


class ObsNormalizer:
    """`VecNormalize.normalize_obs` from saved statistics (no VecNormalize, no pickle)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.clip = float(arrays[NORM_PREFIX + "clip_obs"])
        self.eps = float(arrays[NORM_PREFIX + "epsilon"])
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in arrays:
            if name.startswith(NORM_PREFIX + "obs") and name.endswith(".mean"):
                key = name[len(NORM_PREFIX + "obs") : -len(".mean")].lstrip(".")
                self.stats[key] = (arrays[name], arrays[name[: -len("mean")] + "var"])

    def _one(self, obs: np.ndarray, key: str) -> np.ndarray:
        mean, var = self.stats[key]
        normed = np.clip((obs - mean) / np.sqrt(var + self.eps), -self.clip, self.clip)
        return normed.astype(np.float32)

    def normalize_obs(self, obs: Any) -> Any:
        if isinstance(obs, dict):
            return {k: self._one(v, k) if k in self.stats else v for k, v in obs.items()}
        return self._one(obs, "")


def saved_parameters(
    arrays: dict[str, Any], state: dict[str, Any], path: Path, what: str, shape_hint: str = ""
) -> dict[str, Any]:
    """The `param.` arrays of an untrusted policy file as tensors for `state` (a module's
    state_dict): the names must be exactly the module's and every shape must match, else a
    ConfigError naming `path` and what differs (`what`: the module, e.g. "architecture")."""
    import torch

    given = {k[len(PARAM_PREFIX) :]: v for k, v in arrays.items() if k.startswith(PARAM_PREFIX)}
    if set(given) != set(state):
        missing, extra = sorted(set(state) - set(given)), sorted(set(given) - set(state))
        raise ConfigError(
            f"{path}: the saved policy does not match the job's {what} "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    tensors = {}
    for name, value in given.items():
        if tuple(value.shape) != tuple(state[name].shape):
            raise ConfigError(
                f"{path}: parameter {name} has shape {value.shape}, "
                f"expected {tuple(state[name].shape)}{shape_hint}"
            )
        tensors[name] = torch.as_tensor(value, dtype=state[name].dtype)
    return tensors
