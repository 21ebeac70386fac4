"""`load_policy`: a job's saved policy rebuilt by its backend's loader (`sb3/policy.py` or
`rslrl/policy.py`), for the evaluation container, `autoreward play` and videos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoreward.envs.schema import EnvSchema
from autoreward.train.job import TrainJob
from autoreward.train.policy_io import ObsNormalizer


def load_policy(job: TrainJob, schema: EnvSchema, path: Path) -> tuple[Any, ObsNormalizer | None]:
    """(model, normaliser) rebuilt from the job's hyperparameters, weights from `path`.

    The npz is untrusted data: loaded without pickles, and every tensor must match the
    architecture the job's own hyperparameters describe (shapes and names), or this raises.
    A `--backend warp` job's policy is an rsl-rl actor (`rslrl/policy.py`), whose observation
    normaliser is part of its weights: the normaliser returned is then None.
    """

    if job.backend == "warp":
        from autoreward.train.rslrl.policy import load_rslrl_policy

        return load_rslrl_policy(job, schema, path), None
    from autoreward.train.sb3.policy import load_sb3_policy

    return load_sb3_policy(job, schema, path)
