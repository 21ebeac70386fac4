"""Schemas for environments nobody wrote a YAML for.

Built from what the env itself says: the observation space (one field per documented Box
index, one per Dict key), the class docstring (gymnasium documents observations and actions
as `| Num | Observation | Min | Max | ... |` tables, and has `## Description` / `## Action Space`
sections) and, for MuJoCo envs, the model's named bodies, joints and floor contacts.

The default fitness of an auto-schema is the env's own episode return: the step reward is
exposed as the hidden state field `env_reward` (source `reward`), which `render_schema` never
shows to the LLM. The target is the env spec's `reward_threshold` where it has one.
"""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np

from autoreward.envs.docstring import clean_text, doc_section, doc_table, tile_legend
from autoreward.envs.extract import make_base_env
from autoreward.envs.recipes import model_names
from autoreward.envs.schema import ActionSpec, EnvSchema, FitnessSpec, StateField, TrainDefaults
from autoreward.errors import ConfigError

DEFAULT_EPISODE_LENGTH = 1000
"""The time limit given to a `module:Class` env, which has no registered one."""
ENV_REWARD_FIELD = "env_reward"
_MAX_RUNS = 32

__all__ = ["build_auto_schema", "doc_section", "doc_table"]


# --------------------------------------------------------------------------- helpers


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if len(s) > limit:
        s = s[:limit].rsplit("_", 1)[0]
    return s if s and not s[0].isdigit() else f"f_{s}"


def _type_unit(cell: str) -> tuple[str, str]:
    """'angular velocity (rad/s)' -> ('angular velocity', 'rad/s')."""
    m = re.match(r"^(.*?)\s*\((.+)\)\s*$", cell)
    return (m.group(1), m.group(2)) if m else (cell, "")


def _range_text(row: dict[str, str]) -> str:
    lo, hi = row.get("Min", ""), row.get("Max", "")
    if not lo or not hi or "inf" in (lo + hi).lower():
        return ""
    return f"; range [{lo}, {hi}]"


# --------------------------------------------------------------------------- fields


class _Names:
    """Unique field names in insertion order."""

    def __init__(self) -> None:
        self.used: set[str] = {ENV_REWARD_FIELD}

    def take(self, base: str) -> str:
        name, k = base, 2
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


def _box_fields(space: gym.spaces.Box, doc: str, names: _Names, about: str) -> list[StateField]:
    """Fields of a flat Box observation: documented indices one by one, the rest as a block.
    `about` is the docstring's Observation Space text, for a Box it has no table for."""
    dim = int(np.prod(space.shape))
    if len(space.shape) != 1:
        return [
            _block_field(
                names.take("observation"), space, "obs", about or "The raw observation array."
            )
        ]
    rows = [r for r in doc_table(doc, "Observation") if r.get("Num", "").isdigit()]
    by_index = {int(r["Num"]): r for r in rows if int(r["Num"]) < dim}
    if not by_index:
        return [
            _block_field(
                names.take("observation"),
                space,
                "obs",
                about or "The raw observation vector (the env documents no meaning per index).",
            )
        ]
    fields: list[StateField] = []
    undocumented: list[int] = []
    for i in range(dim):
        row = by_index.get(i)
        if row is None:
            undocumented.append(i)
            continue
        what = row.get("Observation", f"observation {i}")
        kind, unit = _type_unit(row.get("Type (Unit)", ""))
        unit = unit or row.get("Unit", "") or "unspecified"
        base = _row_name(what, kind, row.get("Name (in corresponding XML file)", ""))
        desc = f"{what[:1].upper()}{what[1:]}{_range_text(row)} (observation[{i}])."
        fields.append(
            StateField(
                name=names.take(base), shape=[], unit=unit, description=desc, source=f"obs[{i}]"
            )
        )
    for start, stop in _runs(undocumented):
        size = stop - start
        part = gym.spaces.Box(space.low[start:stop], space.high[start:stop])
        fields.append(
            StateField(
                name=names.take(f"obs_{start}_{stop - 1}" if size > 1 else f"obs_{start}"),
                shape=[size] if size > 1 else [],
                unit="unspecified",
                description=f"Observation entries {start}..{stop - 1} (not documented in a table)."
                + _bounds_text(part, offset=start),
                source=f"obs[{start}:{stop}]" if size > 1 else f"obs[{start}]",
            )
        )
    return fields


def _row_name(what: str, kind: str, xml: str) -> str:
    """'X-coordinate of the object' + 'object (obj_slidex)' -> 'object_x'; else '<xml>_<kind>'."""
    token = re.match(r"[A-Za-z_][A-Za-z0-9_]*", xml.strip())
    if not token:
        return _slug(what)
    axis = re.match(r"^\s*(?:velocity of the\s+)?([xyz])[- ]coordinate", what, re.I)
    if axis and kind.strip().lower() in ("position", "velocity", ""):
        suffix = "_velocity" if "velocity" in f"{what} {kind}".lower() else ""
        return _slug(f"{token.group(0)}_{axis.group(1).lower()}{suffix}")
    return _slug(f"{token.group(0)}_{kind}" if kind else token.group(0))


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def is_image(space: gym.Space) -> bool:
    """stable-baselines3's `is_image_space` rule: a uint8 Box of 3 dimensions, bounds 0..255."""
    return (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8
            and len(space.shape) == 3 and bool(np.all(space.low == 0))
            and bool(np.all(space.high == 255)))  # fmt: skip


def _image_text(shape: tuple[int, ...]) -> str:
    if shape[-1] in (1, 3, 4):
        layout, channels = "height × width × channels", shape[-1]
    else:
        layout, channels = "channels × height × width", shape[0]
    kind = {1: "grey-scale", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    article = "An" if kind[0] in "AEIOUR" else "A"  # "An RGB", "A grey-scale"
    return (f"{article} {kind} image {tuple(shape)} ({layout}; row 0 is the top), pixel values 0..255 "
            "(given as float64).")  # fmt: skip


def _block_field(name: str, space: gym.Space, source: str, what: str) -> StateField:
    shape = list(space.shape) if space.shape else []
    desc = what.strip()
    if desc and not desc.endswith((".", ":")):
        desc += "."
    if is_image(space):
        desc = f"{desc} {_image_text(tuple(shape))}".strip()
    elif isinstance(space, gym.spaces.Box):
        desc += _bounds_text(space)
    elif isinstance(space, gym.spaces.Discrete):
        desc += f" An integer in {int(space.start)}..{int(space.start + space.n - 1)}."
    elif isinstance(space, gym.spaces.MultiBinary):
        desc += " Each entry 0 or 1."
    elif isinstance(space, gym.spaces.MultiDiscrete):
        desc += f" Integers, entry i in 0..nvec[i]-1 with nvec = {np.asarray(space.nvec).tolist()}."
    return StateField(
        name=name, shape=shape, unit="unspecified", description=desc.strip(), source=source
    )


def _bounds_text(space: gym.spaces.Box, offset: int = 0) -> str:
    """' Values in [lo, hi].' when every entry shares its bounds; else the bounds per index,
    runs of equal bounds grouped (`[1..3] in [-5, 5]`)."""
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)
    if not low.size:
        return ""
    if np.all(low == low[0]) and np.all(high == high[0]):
        return (
            f" Values in {_interval(low[0], high[0])}."
            if np.isfinite([low[0], high[0]]).any()
            else ""
        )
    runs: list[tuple[int, int]] = []
    for i in range(low.size):
        if runs and low[i] == low[runs[-1][0]] and high[i] == high[runs[-1][0]]:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    parts = [
        (f"[{a + offset}]" if a == b else f"[{a + offset}..{b + offset}]")
        + f" in {_interval(low[a], high[a])}"
        for a, b in runs[:_MAX_RUNS]
    ]
    more = f"; ... ({len(runs) - _MAX_RUNS} more runs)" if len(runs) > _MAX_RUNS else ""
    return " Bounds per index: " + "; ".join(parts) + more + "."


def _interval(lo: float, hi: float) -> str:
    def num(x: float) -> str:
        return "inf" if x == np.inf else "-inf" if x == -np.inf else f"{x + 0.0:.4g}"

    return f"[{num(lo)}, {num(hi)}]"


def _observation_fields(space: gym.Space, doc: str, names: _Names) -> list[StateField]:
    about = doc_section(doc, "Observation Space")
    if isinstance(space, gym.spaces.Box):
        return _box_fields(space, doc, names, about)
    if isinstance(space, gym.spaces.Dict):
        kinds = (
            gym.spaces.Box,
            gym.spaces.Discrete,
            gym.spaces.MultiBinary,
            gym.spaces.MultiDiscrete,
        )
        fields = []
        for key, sub in space.spaces.items():
            if isinstance(sub, kinds) and re.fullmatch(r"\w+", key):
                fields.append(
                    _block_field(
                        names.take(_slug(key)), sub, f"obs:{key}", f"Observation entry '{key}'."
                    )
                )
        return fields
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiBinary, gym.spaces.MultiDiscrete)):
        return [
            _block_field(
                names.take("observation"), space, "obs", about or "The discrete observation."
            )
        ]
    try:  # e.g. a Tuple of Discrete spaces: read the whole observation as one array
        shape = list(np.asarray(space.sample(), dtype=np.float64).shape)
    except (TypeError, ValueError):
        return []
    what = about or "The raw observation."
    return [
        StateField(
            name=names.take("observation"),
            shape=shape,
            unit="unspecified",
            description=f"{what} As one array, from space {space}.",
            source="obs",
        )
    ]


def _mujoco_fields(env: gym.Env, names: _Names) -> list[StateField]:
    """World positions of named bodies, named joint states, centre of mass, floor contacts."""
    import mujoco

    model = getattr(env.unwrapped, "model", None)
    if not isinstance(model, mujoco.MjModel):
        return []
    fields: list[StateField] = []
    bodies = model_names(model, "body")
    if bodies:
        fields.append(
            StateField(
                name=names.take("body_pos"),
                shape=[len(bodies), 3],
                unit="m",
                description="World positions (x, y, z) of the bodies "
                + ", ".join(bodies)
                + " (rows in that order); z is up.",
                source="xpos:" + ",".join(bodies),
            )
        )
        fields.append(
            StateField(
                name=names.take(_slug(f"{bodies[0]}_velocity")),
                shape=[3],
                unit="m/s",
                description=f"Velocity (x, y, z) of body '{bodies[0]}' over the last step; 0 at "
                "episode start.",
                source=f"fdvel:xpos:{bodies[0]}",
            )
        )
        fields.append(
            StateField(
                name=names.take(_slug(f"{bodies[0]}_up")),
                shape=[3],
                unit="dimensionless",
                description=f"Up axis of body '{bodies[0]}' in world coordinates (unit vector; z "
                "component 1 when upright).",
                source=f"xmat:{bodies[0]}[2::3]",
            )
        )
    fields.append(
        StateField(
            name=names.take("com_pos"),
            shape=[3],
            unit="m",
            description="Centre of mass of the whole model (x, y, z).",
            source="com",
        )
    )
    hinge_slide = [
        (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j), int(model.jnt_type[j]))
        for j in range(model.njnt)
        if int(model.jnt_type[j]) in (mujoco.mjtJoint.mjJNT_SLIDE, mujoco.mjtJoint.mjJNT_HINGE)
    ]
    joints = [(n, t) for n, t in hinge_slide if n]
    if joints:
        listing = ", ".join(
            f"{n} ({'slide, m' if t == mujoco.mjtJoint.mjJNT_SLIDE else 'hinge, rad'})"
            for n, t in joints
        )
        joined = ",".join(n for n, _ in joints)
        fields.append(
            StateField(
                name=names.take("joint_pos"),
                shape=[len(joints)],
                unit="m or rad",
                description=f"Joint positions: {listing}.",
                source=f"qpos:{joined}",
            )
        )
        fields.append(
            StateField(
                name=names.take("joint_vel"),
                shape=[len(joints)],
                unit="m/s or rad/s",
                description="Joint velocities, same order as joint_pos.",
                source=f"qvel:{joined}",
            )
        )
    floor = next(
        (
            mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
            for g in range(model.ngeom)
            if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_PLANE
            and mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
        ),
        None,
    )
    if floor:
        geoms = [
            mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
            for g in range(model.ngeom)
            if model.geom_bodyid[g] != 0 and mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
        ]
        if geoms:
            fields.append(
                StateField(
                    name=names.take("floor_contacts"),
                    shape=[len(geoms)],
                    unit="bool",
                    description=f"Per geom, 1.0 while it touches the '{floor}' plane, else 0.0: "
                    + ", ".join(geoms)
                    + ".",
                    source="contact:" + ",".join(geoms) + f"/{floor}",
                )
            )
    return fields


# --------------------------------------------------------------------------- action


def _action_spec(space: gym.Space, doc: str) -> ActionSpec:
    rows = [r for r in doc_table(doc, "Action") if r.get("Num", "").isdigit()]
    if rows:
        parts = []
        for r in rows:
            extra = ", ".join(
                v
                for v in (
                    r.get("Name (in corresponding XML file)", ""),
                    r.get("Type (Unit)", "") or r.get("Unit", ""),
                )
                if v
            )
            parts.append(
                f"action[{r['Num']}]: {r.get('Action', '')}" + (f" ({extra})" if extra else "")
            )
        text = "; ".join(parts) + "."
    else:
        text = doc_section(doc, "Action Space") or f"Action space {space}."
    if isinstance(space, gym.spaces.Discrete):
        return ActionSpec(shape=[], n=int(space.n), description=text)
    if isinstance(space, gym.spaces.Box):
        return ActionSpec(
            shape=list(space.shape),
            low=_bound(space.low),
            high=_bound(space.high),
            description=text,
        )
    return ActionSpec(shape=list(space.shape or []), description=text)


def _bound(values: np.ndarray) -> float | list[float]:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    return float(flat[0]) if np.all(flat == flat[0]) else flat.tolist()


# --------------------------------------------------------------------------- env-wide text


def time_limit(env: gym.Env) -> int | None:
    """The `max_episode_steps` of the env's `TimeLimit` wrapper, or None when it has none."""
    layer: object = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit):
            return int(layer._max_episode_steps)
        layer = layer.env
    return None


def _description(doc: str, class_name: str) -> str:
    text = doc_section(doc, "Description", inline=False)
    if not text and doc.strip():  # no sections: the docstring's first paragraph
        first = doc.strip().split("\n\n")[0]
        text = clean_text(first.splitlines(), inline=False)
    return text or f"The {class_name} environment."


def _grid_text(env: gym.Env, doc: str) -> str:
    """A grid world's map (toy-text envs keep it as `desc`, rows of single characters), with
    the tile letters where the docstring explains them."""
    desc = getattr(env.unwrapped, "desc", None)
    if not isinstance(desc, np.ndarray) or desc.ndim != 2 or desc.dtype.kind not in "SU":
        return ""
    rows = ["".join(c.decode() if isinstance(c, bytes) else str(c) for c in row) for row in desc]
    size = f"{len(rows)} rows × {len(rows[0])} columns, row 0 at the top"
    legend = {k: v for k, v in tile_legend(doc).items() if any(k in r for r in rows)}
    key = ("; " + ", ".join(f"{k}: {v}" for k, v in legend.items())) if legend else ""
    return f"\n\nMap ({size}{key}):\n\n" + "\n".join(f"    {r}" for r in rows)


# --------------------------------------------------------------------------- schema


def build_auto_schema(env_id: str) -> EnvSchema:
    """An `EnvSchema` for a registered gymnasium id or a `module:Class` entry point."""
    env = make_base_env(env_id, max_episode_steps=DEFAULT_EPISODE_LENGTH)
    try:
        cls = type(env.unwrapped)
        doc = cls.__doc__ or ""
        names = _Names()
        fields = _observation_fields(env.observation_space, doc, names)
        if not fields:
            raise ConfigError(
                f"cannot build an automatic schema for '{env_id}': observation space "
                f"{env.observation_space} is not supported",
                hint="write a YAML schema for it (see the files in envs/)",
            )
        fields += _mujoco_fields(env, names)
        fields.append(
            StateField(
                name=ENV_REWARD_FIELD,
                shape=[],
                unit="reward",
                hidden=True,
                description="The env's own step reward (0 at reset); used by the default fitness.",
                source="reward",
            )
        )
        spec = env.spec
        description = _description(doc, cls.__name__) + _grid_text(env, doc)
        return EnvSchema(
            env_id=env_id,
            description=description,
            fields=fields,
            action=_action_spec(env.action_space, doc),
            episode_length=time_limit(env),
            fitness=FitnessSpec(
                kind="score",
                expression=f'next_state["{ENV_REWARD_FIELD}"]',
                aggregate="sum",
                target=spec.reward_threshold if spec and spec.reward_threshold else None,
                description="The environment's own episode return (its built-in reward summed "
                "over the episode).",
            ),
            train=TrainDefaults(algo="PPO", total_steps=200_000, n_envs=4),
            auto=True,
        )
    finally:
        env.close()
