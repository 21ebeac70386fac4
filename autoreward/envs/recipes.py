"""The `source` recipe language of state fields, and its compiler.

A recipe names where a value lives; it is data, never Python:

    recipe := ["fdvel:"] base ["[" index "]"]
    index  := INT | [INT] ":" [INT] [":" STEP]       (on the flattened base value)

    base                 value (float64, flattened; NAMES is NAME[,NAME...], concatenated)
    obs                  the observation (flat Box)          obs:KEY   a Dict observation entry
    qpos[:NAMES]         joint position(s): free 7, ball 4, slide/hinge 1 per joint
    qvel[:NAMES]         joint velocity(ies): free 6, ball 3, slide/hinge 1 per joint
    qfrc_actuator[:NAMES] / qfrc_constraint[:NAMES]   actuator / constraint force per dof
    xpos[:NAMES]         body frame position in the world (3 per body)
    xquat[:NAMES] / xmat[:NAMES]  body orientation: quaternion w,x,y,z (4) / rotation matrix (9)
    com                  whole-model centre of mass, mass-weighted body inertial positions (3)
    site[:NAMES] / geom[:NAMES]   site / geom position in the world (3 each)
    cfrc_ext[:NAMES]     external (contact) force on each body: torque (3), force (3)
    cinert[:NAMES] / cvel[:NAMES]  com-based body inertia (10) / velocity, rotation:linear (6)
    contact:NAMES[/OTHER]        per geom, 1.0 while it touches anything (or geom OTHER), else 0.0
    contact_force:NAMES[/OTHER]  per geom, summed normal force of those contacts (N)
    attr:NAME[.NAME...]  attribute of the unwrapped env (classic-control / Box2D internals)
    env:NAME             a value the env computes itself: `env.unwrapped.state_values()[NAME]`
                         (envs with a semantic state, e.g. Crafter; read once per step)
    reward               the env's own step reward (0 at reset); for hidden fitness fields only
    fdvel:BASE           finite difference (now - previous step) / env dt; 0 at episode start

An array base without NAMES reads the whole array (all joints, bodies, ...): `cfrc_ext[6:]` is
every body but the world. Names are resolved in `mjindex.py`, which the batched MuJoCo Warp
backend (`autoreward/envs/warp/`) shares, so a recipe means the same thing on both backends.
A value whose declared shape has two or more dimensions is reshaped to it (row-major).
Names are resolved once, when the extractor is built (`mj_name2id`); every step is numpy
indexing into cached views of `MjData`, plus a short scan of the active contacts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoreward.envs.mjindex import ARRAYS, array_source, model_names, object_id
from autoreward.envs.schema import StateField
from autoreward.errors import ConfigError

MUJOCO_BASES = (*ARRAYS, "com", "contact", "contact_force")
BASES = ("obs", "attr", "env", "reward", *MUJOCO_BASES)
_NEEDS_NAME = {"contact", "contact_force", "attr", "env"}

_RECIPE_RE = re.compile(
    r"^(?P<fd>fdvel:)?(?P<base>[a-z_]+)(?::(?P<name>[^\[\]\s]+))?"
    r"(?:\[(?P<start>-?\d*)(?P<colon>:)?(?P<stop>-?\d*)(?::(?P<step>[1-9]\d*)?)?\])?$"
)

Reader = Callable[[np.ndarray | dict[str, Any] | None], Any]


@dataclass(frozen=True)
class Recipe:
    """A parsed `source` string."""

    base: str
    name: str | None
    index: int | slice | None
    fdvel: bool
    text: str


def parse_recipe(text: str) -> Recipe:
    """Parse a recipe string; raise ConfigError saying what is wrong with it."""
    m = _RECIPE_RE.match(text.strip())
    if not m:
        raise ConfigError(
            f"cannot parse state source '{text}'",
            hint="expected e.g. 'obs[0]', 'qpos:rootz', 'fdvel:qpos:rootx', 'xpos:torso[0:2]', "
            "'contact:foot_geom'",
        )
    base, name = m["base"], m["name"]
    if base not in BASES:
        raise ConfigError(
            f"unknown state source '{base}' in '{text}'", hint=f"known sources: {', '.join(BASES)}"
        )
    if base in _NEEDS_NAME and not name:
        raise ConfigError(f"state source '{text}' needs a name: '{base}:NAME'")
    if base == "com" and name:
        raise ConfigError(f"state source '{text}': 'com' takes no name")
    index: int | slice | None = None
    if m["colon"]:
        start = int(m["start"]) if m["start"] else None
        stop = int(m["stop"]) if m["stop"] else None
        index = slice(start, stop, int(m["step"]) if m["step"] else None)
    elif m["start"]:
        index = int(m["start"])
    elif text.strip().endswith("[]"):
        raise ConfigError(f"empty index in state source '{text}'")
    return Recipe(base=base, name=name, index=index, fdvel=bool(m["fd"]), text=text)


class StateExtractor:
    """Compiled readers for a list of fields on one live env (`env.unwrapped`)."""

    def __init__(self, fields: list[StateField], env: Any, context: str = "") -> None:
        self._unwrapped = env.unwrapped
        self._context = context or getattr(getattr(env, "spec", None), "id", None) or "env"
        self._names = [f.name for f in fields]
        self._shapes = [tuple(f.shape) for f in fields]
        self._reshape = [(pos, tuple(f.shape)) for pos, f in enumerate(fields) if len(f.shape) > 1]
        self._readers: list[Reader] = []
        self._fd: list[tuple[int, float]] = []  # (field position, dt) of fdvel fields
        self._prev: dict[int, np.ndarray] = {}
        self._reward = np.float64(0.0)
        self._cache: dict[str, Any] = {}  # values shared by several fields, valid for one read
        self._checked = False
        for pos, field in enumerate(fields):
            recipe = parse_recipe(field.source)
            self._readers.append(self._compile(recipe, field))
            if recipe.fdvel:
                self._fd.append((pos, self._dt(field)))

    # ------------------------------------------------------------------ public

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def reset(self, obs: Any) -> dict[str, Any]:
        """State at episode start; finite-difference fields and `reward` restart from zero."""
        self._reward = np.float64(0.0)
        raw = self._read_all(obs)
        for pos, _ in self._fd:
            self._prev[pos] = raw[pos]
            raw[pos] = np.zeros_like(raw[pos])
        if not self._checked:
            self._check_shapes(raw)
        return dict(zip(self._names, raw, strict=True))

    def step(self, obs: Any, reward: float = 0.0) -> dict[str, Any]:
        """State after a step (call exactly once per env step, with that step's reward)."""
        self._reward = np.float64(reward)
        raw = self._read_all(obs)
        for pos, dt in self._fd:
            now = raw[pos]
            prev = self._prev.get(pos, now)
            self._prev[pos] = now
            raw[pos] = (now - prev) / dt
        if not self._checked:
            self._check_shapes(raw)
        return dict(zip(self._names, raw, strict=True))

    # ------------------------------------------------------------------ reading

    def _read_all(self, obs: Any) -> list[Any]:
        if isinstance(obs, np.ndarray) and obs.dtype != np.float64:
            obs = obs.astype(np.float64)
        self._cache.clear()
        raw = [read(obs) for read in self._readers]
        for pos, shape in self._reshape:
            if np.size(raw[pos]) == int(np.prod(shape)):
                raw[pos] = np.reshape(raw[pos], shape)
        return raw

    def _check_shapes(self, raw: list[Any]) -> None:
        for name, shape, value in zip(self._names, self._shapes, raw, strict=True):
            got = np.shape(value)
            if got != shape:
                raise ConfigError(
                    f"{self._context}: state field '{name}' declares shape {list(shape)} but its "
                    f"source gives shape {list(got)}",
                    hint="fix 'shape' (or the index in 'source') in the schema YAML",
                )
        self._checked = True

    def _dt(self, field: StateField) -> float:
        for attr in ("dt", "tau"):
            dt = getattr(self._unwrapped, attr, None)
            if isinstance(dt, (int, float)) and dt > 0:
                return float(dt)
        raise ConfigError(
            f"{self._context}: field '{field.name}' uses fdvel but the env has no 'dt' or 'tau'"
        )

    # ------------------------------------------------------------------ compiling

    def _compile(self, r: Recipe, field: StateField) -> Reader:
        if r.base == "obs":
            return _indexed(self._obs_reader(r), r.index)
        if r.base == "attr":
            return _indexed(self._attr_reader(r, field), r.index)
        if r.base == "env":
            return _indexed(self._env_reader(r, field), r.index)
        if r.base == "reward":
            return lambda _obs: self._reward
        if r.base in MUJOCO_BASES:
            return self._mujoco_reader(r, field)
        raise ConfigError(f"unknown state source '{r.base}'")  # parse_recipe prevents this

    def _obs_reader(self, r: Recipe) -> Reader:
        if r.name is None:
            return lambda obs: obs
        key = r.name

        def read(obs: Any) -> Any:
            return np.asarray(obs[key], dtype=np.float64).reshape(-1)

        return read

    def _attr_reader(self, r: Recipe, field: StateField) -> Reader:
        path = (r.name or "").split(".")
        if any(p.startswith("_") or not p for p in path):
            raise ConfigError(
                f"{self._context}: field '{field.name}': attribute path '{r.name}' must be public"
            )
        env = self._unwrapped
        context = self._context

        def read(_obs: Any) -> Any:
            value: Any = env
            try:
                for p in path:
                    value = getattr(value, p)
            except AttributeError:
                raise ConfigError(
                    f"{context}: field '{field.name}' (source '{r.text}'): "
                    f"{type(value).__name__} has no attribute '{p}'",
                    hint=f"the env class is {type(env).__name__}",
                ) from None
            return np.asarray(value, dtype=np.float64)

        return read

    def _env_reader(self, r: Recipe, field: StateField) -> Reader:
        values = getattr(self._unwrapped, "state_values", None)
        kind = type(self._unwrapped).__name__
        if not callable(values):
            raise ConfigError(
                f"{self._context}: field '{field.name}' (source '{r.text}'): {kind} has no "
                "state_values() method",
                hint="'env:NAME' sources are for envs that compute their own semantic state",
            )
        key = r.name or ""
        known = getattr(self._unwrapped, "state_value_names", None)
        if known is not None and key not in known:
            raise ConfigError(
                f"{self._context}: field '{field.name}' (source '{r.text}'): {kind} has no "
                f"state value '{key}'",
                hint=f"its values are: {', '.join(known)}",
            )
        cache = self._cache

        def read(_obs: Any) -> Any:
            table = cache.get("env")
            if table is None:
                table = cache["env"] = values()
            return table[key]

        return read

    def _mujoco_reader(self, r: Recipe, field: StateField) -> Reader:
        import mujoco

        model = getattr(self._unwrapped, "model", None)
        data = getattr(self._unwrapped, "data", None)
        if not isinstance(model, mujoco.MjModel) or not isinstance(data, mujoco.MjData):
            raise ConfigError(
                f"{self._context}: field '{field.name}' uses MuJoCo source '{r.text}' but the env "
                "is not a MuJoCo env",
            )
        where = f"{self._context}: field '{field.name}' (source '{r.text}')"
        b = r.base
        if b == "com":
            # Same arithmetic as gymnasium's `mass_center`, so finite differences match exactly.
            mass = model.body_mass.reshape(-1, 1).copy()
            total = float(np.sum(mass))
            xipos = data.xipos
            cache = self._cache

            def com(_obs: Any) -> np.ndarray:
                if "com" not in cache:
                    cache["com"] = np.add.reduce(mass * xipos, axis=0) / total
                return cache["com"]

            return _indexed(com, r.index)
        if b in ("contact", "contact_force"):
            geoms, other = contact_geoms(model, r, where)
            if b == "contact":
                return _indexed(_contact_reader(data, geoms, other, self._cache), r.index)
            return _indexed(_contact_force_reader(model, data, geoms, other, self._cache), r.index)
        src = array_source(model, b, r.name, r.index, r.text, where)
        flat = getattr(data, src.array).reshape(-1)  # a view: MjData keeps its buffers
        if src.scalar:
            pos = int(src.index[0])
            return lambda _obs: flat[pos]  # a numpy scalar: already a copy
        sl = src.contiguous
        if sl is not None:
            return lambda _obs: flat[sl].copy()
        idx = src.index
        return lambda _obs: flat[idx]  # fancy indexing copies


def contact_geoms(model: Any, r: Recipe, where: str) -> tuple[list[int], int | None]:
    """Geom ids of a `contact:`/`contact_force:` recipe, and the OTHER geom's id (or None)."""
    parts = (r.name or "").split("/")
    if len(parts) > 2:
        raise ConfigError(
            f"source '{r.text}': use 'contact:GEOM[,GEOM...]' or 'contact:GEOM[,...]/OTHER'"
        )
    geoms = [object_id(model, "geom", n, where) for n in parts[0].split(",")]
    other = object_id(model, "geom", parts[1], where) if len(parts) == 2 else None
    return geoms, other


def _indexed(read: Reader, index: int | slice | None) -> Reader:
    if index is None:
        return lambda obs: np.array(read(obs), dtype=np.float64)
    if isinstance(index, int):
        return lambda obs: np.float64(read(obs).reshape(-1)[index])
    return lambda obs: np.array(read(obs).reshape(-1)[index], dtype=np.float64)


def _contact_matches(
    data: Any, slot: dict[int, int], other: int, cache: dict[str, Any]
) -> list[tuple[int, int]]:
    """(contact index, field position) for each active contact of a geom in `slot` (with geom
    `other`, or with anything when `other` is -1). Plain Python: contacts are few per step."""
    pairs = cache.get("pairs")
    if pairs is None:
        pairs = cache["pairs"] = data.contact.geom.tolist() if data.ncon else []
    found = []
    for k, (g1, g2) in enumerate(pairs):
        if g1 in slot and (other < 0 or g2 == other):
            found.append((k, slot[g1]))
        if g2 in slot and (other < 0 or g1 == other):
            found.append((k, slot[g2]))
    return found


def _contact_reader(
    data: Any, geoms: list[int], other: int | None, cache: dict[str, Any]
) -> Reader:
    slot = {g: j for j, g in enumerate(geoms)}
    other_id = -1 if other is None else other
    n = len(geoms)

    def read(_obs: Any) -> Any:
        out = [0.0] * n
        for _, j in _contact_matches(data, slot, other_id, cache):
            out[j] = 1.0
        return np.float64(out[0]) if n == 1 else np.array(out)

    return read


def _contact_force_reader(
    model: Any, data: Any, geoms: list[int], other: int | None, cache: dict[str, Any]
) -> Reader:
    import mujoco

    buf = np.zeros(6)
    slot = {g: j for j, g in enumerate(geoms)}
    other_id = -1 if other is None else other
    n = len(geoms)

    def read(_obs: Any) -> Any:
        out = [0.0] * n
        for k, j in _contact_matches(data, slot, other_id, cache):
            mujoco.mj_contactForce(model, data, k, buf)
            out[j] += float(buf[0])  # normal component, in the contact frame
        return np.float64(out[0]) if n == 1 else np.array(out)

    return read


__all__ = [
    "BASES",
    "MUJOCO_BASES",
    "Recipe",
    "StateExtractor",
    "contact_geoms",
    "model_names",
    "parse_recipe",
]
