"""Policy weights without pickles: what crosses from a training container to everything else.

SB3's `model.zip` and `VecNormalize`'s `.pkl` hold pickles, and unpickling runs code: a
training job whose reward got unrestricted Python could plant anything in them. So a
training job also saves the policy as plain arrays (`policy/*.npz`: the policy's
`state_dict` and the observation normaliser's running statistics), and the evaluation
container, `autoreward play` and video rendering rebuild the policy from the job's own
hyperparameters and load those arrays with `allow_pickle=False`. `model.zip` is only ever
loaded again by the next training job of the same candidate, inside its container. The rsl-rl
backend's actor is saved and rebuilt the same way (`rslrl_policy.py`); `load_policy` picks the
loader from the job's `backend`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError
from autoreward.train.job import TrainJob

POLICY_DIR = "policy"
FINAL = "final.npz"
PARAM_PREFIX = "param."
_NORM = "norm."


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


def save_policy(model: Any, normalizer: Any | None, path: Path) -> Path:
    """Write the policy's parameters and the normaliser's statistics as one npz (atomic)."""
    arrays: dict[str, np.ndarray] = {
        PARAM_PREFIX + name: value.detach().cpu().numpy()
        for name, value in model.policy.state_dict().items()
    }
    if normalizer is not None and getattr(normalizer, "norm_obs", False):
        arrays[_NORM + "clip_obs"] = np.array(float(normalizer.clip_obs))
        arrays[_NORM + "epsilon"] = np.array(float(normalizer.epsilon))
        rms = normalizer.obs_rms
        stats = rms.items() if isinstance(rms, dict) else [("", rms)]
        for key, item in stats:
            prefix = f"{_NORM}obs{'.' + key if key else ''}."
            arrays[prefix + "mean"] = np.asarray(item.mean, dtype=np.float64)
            arrays[prefix + "var"] = np.asarray(item.var, dtype=np.float64)
    return write_policy_npz(path, arrays)


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
        self.clip = float(arrays[_NORM + "clip_obs"])
        self.eps = float(arrays[_NORM + "epsilon"])
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in arrays:
            if name.startswith(_NORM + "obs") and name.endswith(".mean"):
                key = name[len(_NORM + "obs") : -len(".mean")].lstrip(".")
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


def load_policy(job: TrainJob, schema: EnvSchema, path: Path) -> tuple[Any, ObsNormalizer | None]:
    """(model, normaliser) rebuilt from the job's hyperparameters, weights from `path`.

    The npz is untrusted data: loaded without pickles, and every tensor must match the
    architecture the job's own hyperparameters describe (shapes and names), or this raises.
    A `--backend warp` job's policy is an rsl-rl actor (`rslrl_policy.py`), whose observation
    normaliser is part of its weights: the normaliser returned is then None.
    """

    if job.backend == "warp":
        from autoreward.train.rslrl_policy import load_rslrl_policy

        return load_rslrl_policy(job, schema, path), None

    from autoreward.sandbox.untrusted import load_npz

    arrays = load_npz(path)
    model = build_policy_model(job, schema)
    tensors = saved_parameters(arrays, model.policy.state_dict(), path, "architecture")
    model.policy.load_state_dict(tensors, strict=True)
    model.policy.set_training_mode(False)
    normalizer = ObsNormalizer(arrays) if _NORM + "clip_obs" in arrays else None
    return model, normalizer


def build_policy_model(job: TrainJob, schema: EnvSchema) -> Any:
    """A fresh SB3 model of the job's algorithm and policy on one env (weights untrained)."""
    from autoreward.train.hyperparams import algo_class, job_hyperparams, resolve_hyperparams
    from autoreward.train.vec_env import make_training_venv

    algo = job.algo or schema.train.algo
    venv = make_training_venv(schema, 1, job.seed, schema_state=False)
    policy, kwargs, _ = resolve_hyperparams(
        algo, job_hyperparams(job, schema, algo), venv.action_space, venv.observation_space
    )
    if "buffer_size" in kwargs or algo in ("SAC", "TD3", "DQN"):
        kwargs["buffer_size"] = 1  # acting only: no replay memory
        kwargs.pop("optimize_memory_usage", None)
    try:
        with warnings.catch_warnings():  # batch-size advice for one env: this model only acts
            warnings.simplefilter("ignore", UserWarning)
            return algo_class(algo)(policy, venv, seed=job.seed, device="cpu", verbose=0, **kwargs)
    finally:
        venv.close()
