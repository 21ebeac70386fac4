"""Which training backend a run uses, and what a `--backend warp` job trains with.

- `sb3` (default): stable-baselines3 on the gymnasium env, CPU processes; every env and algorithm.
- `warp`: rsl-rl PPO on the batched MuJoCo Warp env (`envs/warp/`), thousands of worlds on a
  GPU (or a few on Warp's CPU device, slowly); MuJoCo schemas with a `simulation` section only.
  `--n-envs` counts worlds (default per device from the schema's `simulation.train`), and
  `--hyperparams` are rsl-rl's settings (`envs/rslrl_settings.py`).
- `auto`: warp where a GPU is present and the schema supports it, else sb3.

Resolved in the parent before any job: a schema the backend cannot run, or an option that does
not apply to it (an SB3 algorithm, an RL Zoo file, `--policy`), is one clear error here. Imports
stay cheap: nothing here loads Warp.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from autoreward.envs.rslrl_settings import RslRlHyperparams, merged_rslrl_hyperparams
from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError
from autoreward.train.job import Backend

BackendChoice = Literal["sb3", "warp", "auto"]
BACKENDS = ("sb3", "warp", "auto")
WARP_HINT = "use --backend sb3 (stable-baselines3 on gymnasium) for this env"


def resolve_backend(requested: str, schema: EnvSchema, device: str = "cpu") -> tuple[Backend, str]:
    """(backend, device) that will train. `device` is the resolved torch device (cpu/cuda).
    `auto` is warp on the GPU when one is present and the schema supports it, else sb3 on
    `device`. A `warp` request for a schema it cannot run is a ConfigError saying why."""
    from autoreward.envs.warp.model import unsupported_reason

    choice = requested.strip().lower()
    if choice not in BACKENDS:
        raise ConfigError(f"--backend {requested!r} is not a backend",
                          hint="use sb3, warp or auto")  # fmt: skip
    if choice == "sb3":
        return "sb3", device
    reason = unsupported_reason(schema)
    if choice == "warp":
        if reason is not None:
            raise ConfigError(f"--backend warp cannot train {schema.env_id}: {reason}",
                              hint=WARP_HINT)  # fmt: skip
        if not warp_installed():
            raise ConfigError(
                "--backend warp needs the optional 'warp' extra (mujoco-warp, warp-lang, "
                "rsl-rl-lib)",
                hint="pip install -e '.[warp]' (scripts/install.sh does)",
            )
        return "warp", device
    if reason is None and gpu_present():
        return "warp", "cuda"
    return "sb3", device


def warp_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("mujoco_warp", "warp", "rsl_rl"))


def gpu_present() -> bool:
    """A CUDA GPU torch can use, and the warp extra to drive it (Warp itself is not loaded)."""
    import torch

    return warp_installed() and torch.cuda.is_available()


class WarpSetup(BaseModel):
    """What a `--backend warp` job trains with, resolved and checked before any worker starts."""

    worlds: int
    total_steps: int
    trained_steps: int
    hyperparams: dict[str, Any]
    """The complete rsl-rl settings (`RslRlHyperparams`), rollout fitted to the budget."""
    device: str
    budget_note: str = ""


def warp_setup(
    schema: EnvSchema,
    *,
    algo: str | None,
    steps: int | None,
    n_envs: int | None,
    hyperparams: dict[str, Any],
    hyperparams_file: Path | str | None,
    device: str,
    smallest_budget: int | None = None,
    budget_label: str = "",
) -> WarpSetup:
    """The schema's `simulation.train` settings under `hyperparams`; `n_envs` worlds (default:
    the schema's for the device). The rollout (`num_steps_per_env` x worlds) is shrunk to fit
    the smallest budget a job of the run gets (`smallest_budget`, default the full one).
    `device`: the resolved one (cpu or cuda)."""
    if algo is not None and algo.upper() != "PPO":
        raise ConfigError(
            f"--algo {algo} does not apply with --backend warp: it trains PPO (rsl-rl-lib)",
            hint="leave --algo out, or use --backend sb3 for SAC, TD3, A2C or DQN",
        )
    if hyperparams_file is not None:
        raise ConfigError(
            "--hyperparams-file does not apply with --backend warp: RL Zoo files hold "
            "stable-baselines3 settings",
            hint="give rsl-rl settings with --hyperparams KEY=VALUE, or in the schema's "
            "simulation.train.hyperparams",
        )
    if "policy" in hyperparams:
        raise ConfigError(
            "--policy does not apply with --backend warp (rsl-rl MLP actor-critic)",
            hint="set actor_hidden_dims / critic_hidden_dims with --hyperparams instead",
        )
    assert schema.simulation is not None, "resolve_backend checks the schema first"
    train = schema.simulation.train
    hp = merged_rslrl_hyperparams(train.hyperparams, hyperparams)
    worlds = n_envs or train.worlds(device)
    total = steps or schema.train.total_steps
    hp, note = fit_warp_rollout(hp, worlds, smallest_budget or total, budget_label)
    rollout = worlds * hp.num_steps_per_env
    trained = math.ceil(total / rollout) * rollout
    if trained != total and not note:
        note = (
            f"the budget of {total:,} steps is trained in whole rollouts of {rollout:,} "
            f"({worlds:,} worlds x {hp.num_steps_per_env}): {trained:,} steps"
        )
    return WarpSetup(worlds=worlds, total_steps=total, trained_steps=trained,
                     hyperparams=hp.model_dump(), device=device, budget_note=note)  # fmt: skip


def fit_warp_rollout(
    hp: RslRlHyperparams, worlds: int, budget: int, label: str = ""
) -> tuple[RslRlHyperparams, str]:
    """`num_steps_per_env` shrunk so one rollout of all worlds fits `budget` (at least one
    step per world: a budget below the world count still trains one rollout, and says so)."""
    rollout = worlds * hp.num_steps_per_env
    if rollout <= budget:
        return hp, ""
    fitted = max(1, budget // worlds)
    where = f" {label}" if label else ""
    note = (
        f"one rollout of {worlds:,} worlds x {hp.num_steps_per_env} steps ({rollout:,}) is more "
        f"than the budget{where} ({budget:,}): num_steps_per_env {hp.num_steps_per_env} -> {fitted}"
    )
    if worlds > budget:
        note += f"; {worlds:,} worlds still take {worlds:,} steps per rollout (use fewer --n-envs)"
    return hp.model_copy(update={"num_steps_per_env": fitted}), note
