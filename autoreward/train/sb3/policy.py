"""The SB3 policy as pickle-free arrays (`policy_io.py`'s format): `save_policy` writes the
policy's `state_dict` and the observation normaliser's statistics, `load_sb3_policy` rebuilds
the model from the job's own hyperparameters and checks every tensor against it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema
from autoreward.train.job import TrainJob
from autoreward.train.policy_io import (
    NORM_PREFIX,
    PARAM_PREFIX,
    ObsNormalizer,
    saved_parameters,
    write_policy_npz,
)


def save_policy(model: Any, normalizer: Any | None, path: Path) -> Path:
    """Write the policy's parameters and the normaliser's statistics as one npz (atomic)."""
    arrays: dict[str, np.ndarray] = {
        PARAM_PREFIX + name: value.detach().cpu().numpy()
        for name, value in model.policy.state_dict().items()
    }
    if normalizer is not None and getattr(normalizer, "norm_obs", False):
        arrays[NORM_PREFIX + "clip_obs"] = np.array(float(normalizer.clip_obs))
        arrays[NORM_PREFIX + "epsilon"] = np.array(float(normalizer.epsilon))
        rms = normalizer.obs_rms
        stats = rms.items() if isinstance(rms, dict) else [("", rms)]
        for key, item in stats:
            prefix = f"{NORM_PREFIX}obs{'.' + key if key else ''}."
            arrays[prefix + "mean"] = np.asarray(item.mean, dtype=np.float64)
            arrays[prefix + "var"] = np.asarray(item.var, dtype=np.float64)
    return write_policy_npz(path, arrays)


def load_sb3_policy(
    job: TrainJob, schema: EnvSchema, path: Path
) -> tuple[Any, ObsNormalizer | None]:
    """(model, normaliser) of an SB3 job, weights from the untrusted npz at `path`."""
    from autoreward.sandbox.untrusted import load_npz

    arrays = load_npz(path)
    model = build_policy_model(job, schema)
    tensors = saved_parameters(arrays, model.policy.state_dict(), path, "architecture")
    model.policy.load_state_dict(tensors, strict=True)
    model.policy.set_training_mode(False)
    normalizer = ObsNormalizer(arrays) if NORM_PREFIX + "clip_obs" in arrays else None
    return model, normalizer


def build_policy_model(job: TrainJob, schema: EnvSchema) -> Any:
    """A fresh SB3 model of the job's algorithm and policy on one env (weights untrained)."""
    from autoreward.train.sb3.hyperparams import algo_class, job_hyperparams, resolve_hyperparams
    from autoreward.train.sb3.vec_env import make_training_venv

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
