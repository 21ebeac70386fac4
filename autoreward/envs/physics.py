"""The physical parameters a reward designer uses: masses, lengths, ranges, time step.

Two sources, rendered together as one compact section of the schema text:
- declared in a schema's `physics:` list (the classic envs, whose constants live in Python
  source; values copied from the gymnasium implementation);
- read from the live `MjModel` of a MuJoCo env (body masses, geom sizes, joint ranges,
  actuator control ranges and gears, time step x frame skip, gravity), so a MuJoCo env, an
  auto-schema's included, never needs them written by hand.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import numpy as np
from pydantic import BaseModel

from autoreward.envs.schema import EnvSchema, PhysicalParameter

MAX_ITEMS = 24
"""At most this many entries per MuJoCo line (bodies, geoms, joints, actuators); the rest are counted."""


class MujocoPhysics(BaseModel):
    """What a reward designer needs from a MuJoCo model, in SI units."""

    timestep: float
    frame_skip: int
    gravity: float
    total_mass: float
    bodies: list[tuple[str, float]]
    """(name, mass kg) of every body with mass."""
    geoms: list[tuple[str, str, list[float]]]
    """(name, type, sizes): capsule/cylinder [length, radius], sphere [radius], box [x, y, z]."""
    joints: list[tuple[str, str, float, float]]
    """(name, hinge|slide, low, high) of every limited joint (rad or m)."""
    actuators: list[tuple[str, str, float, float, float]]
    """(name, joint, ctrl low, ctrl high, gear)."""

    @property
    def control_dt(self) -> float:
        return self.timestep * self.frame_skip


def read_mujoco(env: Any) -> MujocoPhysics | None:
    """The physics of a gymnasium MuJoCo env (`env.unwrapped.model`), or None for other envs."""
    base = getattr(env, "unwrapped", env)
    model = getattr(base, "model", None)
    if model is None or type(model).__name__ != "MjModel":
        return None
    import mujoco

    def name(obj: Any, i: int, fallback: str) -> str:
        return mujoco.mj_id2name(model, obj, i) or fallback

    bodies = [
        (name(mujoco.mjtObj.mjOBJ_BODY, i, f"body{i}"), float(model.body_mass[i]))
        for i in range(1, model.nbody)
        if model.body_mass[i] > 0
    ]
    geoms = []
    for i in range(model.ngeom):
        kind = int(model.geom_type[i])
        size = [float(x) for x in model.geom_size[i]]
        body = name(mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[i]), "world")
        label = name(mujoco.mjtObj.mjOBJ_GEOM, i, body)
        if kind in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
            kind_name = "capsule" if kind == mujoco.mjtGeom.mjGEOM_CAPSULE else "cylinder"
            geoms.append((label, kind_name, [2 * size[1], size[0]]))
        elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            geoms.append((label, "sphere", [size[0]]))
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:
            geoms.append((label, "box", [2 * x for x in size]))
    joints = []
    for i in range(model.njnt):
        kind = int(model.jnt_type[i])
        if not model.jnt_limited[i] or kind not in (
            mujoco.mjtJoint.mjJNT_HINGE,
            mujoco.mjtJoint.mjJNT_SLIDE,
        ):
            continue
        lo, hi = (float(x) for x in model.jnt_range[i])
        kind_name = "hinge" if kind == mujoco.mjtJoint.mjJNT_HINGE else "slide"
        joints.append((name(mujoco.mjtObj.mjOBJ_JOINT, i, f"joint{i}"), kind_name, lo, hi))
    actuators = []
    for i in range(model.nu):
        lo, hi = (float(x) for x in model.actuator_ctrlrange[i])
        if not model.actuator_ctrllimited[i]:
            lo, hi = -math.inf, math.inf
        target = int(model.actuator_trnid[i, 0])
        joint = name(mujoco.mjtObj.mjOBJ_JOINT, target, "?") if target >= 0 else "?"
        actuators.append(
            (name(mujoco.mjtObj.mjOBJ_ACTUATOR, i, f"actuator{i}"), joint, lo, hi,
             float(model.actuator_gear[i, 0]))
        )  # fmt: skip
    return MujocoPhysics(
        timestep=float(model.opt.timestep),
        frame_skip=int(getattr(base, "frame_skip", 1)),
        gravity=float(np.linalg.norm(model.opt.gravity)),
        total_mass=float(sum(m for _, m in bodies)),
        bodies=bodies,
        geoms=geoms,
        joints=joints,
        actuators=actuators,
    )


def mujoco_physics(schema: EnvSchema) -> MujocoPhysics | None:
    """The MuJoCo physics of the schema's env (cached per env id and make kwargs); None when
    the env is not a MuJoCo env or cannot be built here."""
    return _mujoco_cached(schema.env_id, json.dumps(schema.make_kwargs, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _mujoco_cached(env_id: str, make_kwargs: str) -> MujocoPhysics | None:
    from autoreward.envs.extract import make_base_env

    try:
        env = make_base_env(env_id, json.loads(make_kwargs))
    except Exception:  # not buildable here (missing extra): the schema text goes without
        return None
    try:
        return read_mujoco(env)
    finally:
        env.close()


# =========================================================================== rendering


def physics_lines(schema: EnvSchema) -> list[str]:
    """The `## Physical parameters` bullets: declared ones, then the MuJoCo model's."""
    lines = [_declared(p) for p in schema.physics]
    mj = mujoco_physics(schema) if _may_be_mujoco(schema) else None
    if mj is not None:
        lines += mujoco_lines(mj)
    return lines


def mujoco_lines(mj: MujocoPhysics) -> list[str]:
    lines = [
        f"- time step: {_g(mj.timestep)} s x frame_skip {mj.frame_skip} = {_g(mj.control_dt)} s "
        f"per env step ({_g(1 / mj.control_dt)} steps per second); gravity {_g(mj.gravity)} m/s^2",
        f"- body masses (kg; total {_g(mj.total_mass)}): "
        + _join(f"{n} {_g(m)}" for n, m in mj.bodies),
    ]
    if mj.geoms:
        lines.append(
            "- geom sizes (m; capsule/cylinder: length x radius, box: full sides): "
            + _join(f"{n} {k} {' x '.join(_g(x) for x in size)}" for n, k, size in mj.geoms)
        )
    if mj.joints:
        lines.append(
            "- joint ranges (hinge rad, slide m): "
            + _join(f"{n} [{_g(lo)}, {_g(hi)}]" for n, _, lo, hi in mj.joints)
        )
    if mj.actuators:
        lines.append(
            "- actuators, one per action entry in order (control range x gear = joint torque or "
            "force): "
            + _join(
                f"{_actuator(n, j)} [{_g(lo)}, {_g(hi)}] x {_g(gear)}"
                for n, j, lo, hi, gear in mj.actuators
            )
        )
    return lines


def _actuator(name: str, joint: str) -> str:
    return joint if name == joint or name.startswith("actuator") else f"{name} on {joint}"


def _declared(p: PhysicalParameter) -> str:
    value = p.value
    text = ", ".join(_g(v) for v in value) if isinstance(value, list) else _g(value)
    if isinstance(value, list):
        text = f"[{text}]"
    unit = "" if p.unit in ("", "dimensionless") else f" {p.unit}"
    desc = f" — {' '.join(p.description.split())}" if p.description else ""
    return f"- {p.name}: {text}{unit}{desc}"


def _may_be_mujoco(schema: EnvSchema) -> bool:
    """Cheap pre-check before building the env: MuJoCo recipes in the fields, or a MuJoCo
    entry point (an auto-schema may read observations only)."""
    from autoreward.envs.recipes import MUJOCO_BASES

    if any(set(f.source.split(":")) & set(MUJOCO_BASES) for f in schema.fields):
        return True
    import gymnasium as gym

    spec = gym.registry.get(schema.env_id)
    entry = spec.entry_point if spec is not None else schema.env_id
    return "mujoco" in str(entry).lower()


def _join(items: Any) -> str:
    items = list(items)
    if len(items) > MAX_ITEMS:
        return "; ".join(items[:MAX_ITEMS]) + f"; ... ({len(items) - MAX_ITEMS} more)"
    return "; ".join(items)


def _g(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4g}"


def control_dt(schema: EnvSchema) -> float | None:
    """Seconds per env step: the MuJoCo model's, else a declared `time step` in seconds."""
    for p in schema.physics:
        if p.name.lower() == "time step" and p.unit == "s" and not isinstance(p.value, list):
            return float(p.value)
    mj = mujoco_physics(schema) if _may_be_mujoco(schema) else None
    return None if mj is None else mj.control_dt
