"""A warp job's resumable `checkpoint/`: rsl-rl's PPO state (`model.pt`) and `state.json`.

Written by the training container, read only by the next training container of the same
candidate (successive halving's second rung). `model.pt` holds actor, critic and optimiser
state dicts (`PPO.save()`) and is loaded with `torch.load(weights_only=True)`: tensors and plain
containers, never pickled objects. The directory is written beside the old one and swapped in
whole, so a killed job never leaves half a checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from autoreward.errors import ConfigError
from autoreward.store.atomic import atomic_write_json, read_json, swapped_dir

CHECKPOINT_DIR = "checkpoint"
MODEL_FILE = "model.pt"
STATE_FILE = "state.json"
BACKEND = "warp"


class WarpCheckpointState(BaseModel):
    """`checkpoint/state.json` of a warp job: what a continuation needs besides `model.pt`."""

    backend: str = BACKEND
    steps: int
    iteration: int = 0
    env_id: str
    seed: int
    worlds: int
    reward_sha256: str | None
    history: list[dict[str, Any]] = Field(default_factory=list)
    term_names: list[str] = Field(default_factory=list)
    train_s: float = Field(default=0.0, description="Wall seconds spent training so far, all runs.")


def save_warp_checkpoint(directory: Path, alg: Any, state: WarpCheckpointState) -> Path:
    """`alg` (rsl-rl's PPO) and `state` into `directory`, swapped in whole."""
    import torch

    with swapped_dir(directory) as fresh:
        torch.save({**alg.save(), "iter": state.iteration}, fresh / MODEL_FILE)
        atomic_write_json(fresh / STATE_FILE, state.model_dump(mode="json"))
    return directory


def load_warp_checkpoint_state(path: str | Path) -> WarpCheckpointState:
    directory = Path(path)
    data = read_json(directory / STATE_FILE)
    if data is None or not (directory / MODEL_FILE).exists():
        raise ConfigError(
            f"no warp checkpoint at {directory} (expected {STATE_FILE} and {MODEL_FILE})",
            hint="resume_from takes the checkpoint/ directory of an earlier --backend warp job",
        )
    if data.get("backend") != BACKEND:
        raise ConfigError(
            f"checkpoint {directory} was written by the {data.get('backend', 'sb3')} backend",
            hint="continue a job with the backend it was trained with",
        )
    return WarpCheckpointState.model_validate(data)


def load_warp_model(alg: Any, directory: Path, device: str) -> None:
    """Actor, critic and optimiser of the checkpoint a job continues, into `alg`."""
    import torch

    saved = torch.load(directory / MODEL_FILE, map_location=device, weights_only=True)
    try:
        alg.load(saved, None, strict=True)
    except (KeyError, RuntimeError) as err:
        raise ConfigError(
            f"checkpoint {directory} does not fit this job's networks: {err}",
            hint="continue with the same hyperparameters the checkpoint was trained with",
        ) from err
