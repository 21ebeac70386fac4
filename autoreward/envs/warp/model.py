"""Which schemas the MuJoCo Warp backend runs, and the MuJoCo model it builds for one.

The model is the gymnasium env's own MJCF (from gymnasium's MuJoCo assets, or a file next to
the schema), compiled by MuJoCo itself; the schema's `simulation` section may replace the
solver (MuJoCo Warp has no PGS) and the friction cone. Everything is checked here, before any
kernel compiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema, SimulationSpec
from autoreward.errors import ConfigError


def unsupported_reason(schema: EnvSchema) -> str | None:
    """Why the MuJoCo Warp backend cannot run `schema`, or None when it can."""
    if schema.simulation is None:
        return (
            f"the schema of {schema.env_id} has no 'simulation' section (model, frame skip, "
            "observation, reset and termination terms); only MuJoCo schemas that declare one run "
            "on the MuJoCo Warp backend"
        )
    if schema.action.n is not None:
        return f"{schema.env_id} has a discrete action; MuJoCo actuators take continuous controls"
    return None


def require_simulation(schema: EnvSchema) -> SimulationSpec:
    """The schema's `simulation` section, or a ConfigError saying why the backend cannot run it."""
    reason = unsupported_reason(schema)
    if reason is not None:
        raise ConfigError(
            f"the MuJoCo Warp backend cannot run {schema.env_id}: {reason}",
            hint="use the default SB3 backend for this env, or add a 'simulation' section to its "
            "schema YAML (see envs/Hopper-v5.yaml)",
        )
    assert schema.simulation is not None
    return schema.simulation


def gymnasium_assets() -> Path:
    import gymnasium.envs.mujoco as gym_mujoco

    return Path(gym_mujoco.__file__).resolve().parent / "assets"


def model_path(spec: SimulationSpec, env_id: str) -> Path:
    """The MJCF file: gymnasium's asset of that name, else a path relative to the schema folder."""
    from autoreward.envs.registry import schema_dir

    for candidate in (gymnasium_assets() / spec.model, schema_dir() / spec.model):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"{env_id}: simulation.model '{spec.model}' is neither in gymnasium's MuJoCo assets "
        f"({gymnasium_assets()}) nor under {schema_dir()}",
        hint="name a gymnasium asset (e.g. hopper.xml) or a file path relative to envs/",
    )


def load_model(schema: EnvSchema) -> Any:
    """The host `MjModel` of a schema, with the section's overrides applied and checked."""
    import mujoco

    spec = require_simulation(schema)
    path = model_path(spec, schema.env_id)
    try:
        model = mujoco.MjModel.from_xml_path(str(path))
    except ValueError as err:
        raise ConfigError(f"{schema.env_id}: MuJoCo cannot load {path}: {err}") from err
    if spec.solver is not None:
        model.opt.solver = {
            "newton": mujoco.mjtSolver.mjSOL_NEWTON,
            "cg": mujoco.mjtSolver.mjSOL_CG,
        }[spec.solver]
    elif model.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
        raise ConfigError(
            f"{schema.env_id}: {path.name} uses the PGS solver, which MuJoCo Warp does not have",
            hint="set 'solver: newton' in the schema's simulation section (and say so in 'notes')",
        )
    if spec.cone is not None:
        model.opt.cone = {
            "pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL,
            "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC,
        }[spec.cone]
    check_action(schema, model)
    return model


def check_action(schema: EnvSchema, model: Any) -> None:
    """The schema's action must be the model's actuators: count and control range."""
    shape = tuple(schema.action.shape)
    if shape != (model.nu,):
        raise ConfigError(
            f"{schema.env_id}: the action has shape {list(shape)} but the model has {model.nu} "
            "actuators",
            hint="the batched env passes the action straight to the actuators, as gymnasium does",
        )
    limited = np.asarray(model.actuator_ctrllimited, dtype=bool)
    low = np.broadcast_to(np.asarray(schema.action.low, dtype=np.float64), (model.nu,))
    high = np.broadcast_to(np.asarray(schema.action.high, dtype=np.float64), (model.nu,))
    rng = np.asarray(model.actuator_ctrlrange)
    if not (
        np.allclose(low[limited], rng[limited, 0]) and np.allclose(high[limited], rng[limited, 1])
    ):
        raise ConfigError(
            f"{schema.env_id}: action bounds low={low.tolist()} high={high.tolist()} differ from "
            f"the model's control range {rng.tolist()}",
            hint="make the schema's action low/high equal the actuators' ctrlrange",
        )


def action_bounds(schema: EnvSchema, model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-actuator clip bounds (the control range; +-inf for unlimited actuators)."""
    low = np.full(model.nu, -np.inf)
    high = np.full(model.nu, np.inf)
    limited = np.asarray(model.actuator_ctrllimited, dtype=bool)
    low[limited] = model.actuator_ctrlrange[limited, 0]
    high[limited] = model.actuator_ctrlrange[limited, 1]
    return low, high
