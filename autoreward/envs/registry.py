"""Finding a schema for an env id, and rendering it as the text the LLM reads.

Shipped YAML schemas live in the top-level `envs/` folder, one `<env id>.yaml` per env.
`AUTOREWARD_ENVS_DIR` names folders of the user's own schemas (several separated by
`os.pathsep`, first wins) that add to the shipped ones; a user schema with the id of a shipped
one takes its place (`envs list` and `envs show` say so). Any other registered gymnasium id,
or a `module:Class` entry point, gets an auto-schema (`autoschema.py`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import yaml
from pydantic import ValidationError

from autoreward.envs.envids import (
    ENVS_DIR_VAR,
    close_env_ids,
    is_shipped,
    list_schemas,
    overridden_schemas,
    schema_dir,
    schema_dirs,
    schema_file,
    user_schema_dirs,
)
from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError, UnknownEnvError

__all__ = [
    "ENVS_DIR_VAR", "close_env_ids", "is_shipped", "list_schemas", "load_schema",
    "load_schema_file", "overridden_schemas", "render_schema", "schema_dir", "schema_dirs",
    "schema_file", "unknown_env_error", "user_schema_dirs",
]  # fmt: skip


def load_schema_file(path: Path) -> EnvSchema:
    """Parse and validate one schema YAML file; every problem is named `file:line:col`.

    A schema may start from another one in the same folder: `extends: OTHER-ID` takes
    OTHER-ID's keys, then this file's keys replace them (`make_kwargs`, `train` and
    `train.hyperparams` are merged key by key instead).
    """
    from autoreward.yamlfile import read_yaml, require_mapping, validate

    doc = read_yaml(path, what="schema file")
    data = require_mapping(doc, "schema keys (env_id, description, fields, ...)")
    if "extends" not in data:
        return validate(EnvSchema, doc, "schema")
    merged = _read_schema_data(path, ())
    try:
        return EnvSchema.model_validate(merged)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{path}: invalid schema (after extends): {problems}") from err


_MERGED_KEYS = ("make_kwargs", "train")


def _read_schema_data(path: Path, chain: tuple[Path, ...]) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the schema: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    parent_path = path.parent / f"{parent}.yaml"
    if not isinstance(parent, str) or not parent_path.is_file():
        raise ConfigError(
            f"{path}: extends '{parent}', but there is no {parent_path.name} beside it",
            hint="extends names another schema's env id in the same folder",
        )
    if parent_path in (*chain, path):
        raise ConfigError(f"{path}: 'extends' goes round in a circle through {parent_path.name}")
    base = _read_schema_data(parent_path, (*chain, path))
    merged = {**base, **data}
    for key in _MERGED_KEYS:
        if isinstance(base.get(key), dict) and isinstance(data.get(key), dict):
            merged[key] = {**base[key], **data[key]}  # type: ignore[dict-item]
    base_train, train = base.get("train"), data.get("train")
    if isinstance(base_train, dict) and isinstance(train, dict):
        hp_base, hp = base_train.get("hyperparams"), train.get("hyperparams")
        if isinstance(hp_base, dict) and isinstance(hp, dict):
            merged["train"]["hyperparams"] = {**hp_base, **hp}  # type: ignore[index]
    return merged


def load_schema(env_id: str) -> EnvSchema:
    """The shipped schema for `env_id`, else an auto-schema; unknown ids name close matches."""
    return _load_cached(env_id.strip(), tuple(schema_dirs())).model_copy(deep=True)


@functools.lru_cache(maxsize=64)
def _load_cached(env_id: str, folders: tuple[Path, ...]) -> EnvSchema:
    path = next((f / f"{env_id}.yaml" for f in folders if (f / f"{env_id}.yaml").is_file()), None)
    if path is not None:
        schema = load_schema_file(path)
        if schema.env_id != env_id:
            raise ConfigError(f"{path}: env_id is '{schema.env_id}', expected '{env_id}'")
        return schema
    import gymnasium as gym

    from autoreward.envs.autoschema import build_auto_schema
    from autoreward.envs.builtin import register_builtin_envs

    register_builtin_envs()

    if ":" in env_id or env_id in gym.registry:
        return build_auto_schema(env_id)
    raise unknown_env_error(env_id)


def unknown_env_error(env_id: str) -> UnknownEnvError:
    """An UnknownEnvError naming a deprecated id's successor, or the closest ids that can be
    made here (registered ids whose env cannot be built, e.g. mujoco-py's `Hopper-v2`, are not
    offered)."""
    import gymnasium as gym

    from autoreward.envs.builtin import register_builtin_envs

    register_builtin_envs()
    try:
        gym.spec(env_id)
    except gym.error.DeprecatedEnv as err:
        newer = re.search(r"use `([^`]+)`", str(err))
        return UnknownEnvError(
            f"'{env_id}' is deprecated in gymnasium {gym.__version__}: {err}",
            hint=f"use {newer.group(1)}" if newer else "see 'autoreward envs list'",
        )
    except gym.error.Error:
        pass
    matches = close_env_ids(env_id)
    if matches:
        hint = "did you mean " + ", ".join(matches) + "?"
    else:
        hint = "run 'autoreward envs list' for shipped schemas, or pass 'module:Class'"
    return UnknownEnvError(f"unknown environment '{env_id}'", hint=hint)


# --------------------------------------------------------------------------- rendering


def _shape_text(shape: list[int]) -> str:
    return "(N, " + ", ".join(str(d) for d in shape) + ")" if shape else "(N,)"


def _bounds_text(low: float | list[float] | None, high: float | list[float] | None) -> str:
    if low is None or high is None:
        return ""
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if lo.size and np.all(lo == lo.flat[0]) and np.all(hi == hi.flat[0]):
        return f", each in [{lo.flat[0]:g}, {hi.flat[0]:g}]"
    return f", bounds low={lo.tolist()} high={hi.tolist()}"


def _fitness_lines(schema: EnvSchema) -> list[str]:
    """The fitness in words: its description, what the number is, and the target when known."""
    f = schema.fitness
    lines = [" ".join(f.description.split())]
    if f.kind == "success":
        scale = ("The fitness is the fraction of evaluation episodes that succeed (0 to 1), "
                 "with the policy acting deterministically.")  # fmt: skip
    else:
        scale = ("The fitness is the mean of this per-episode score over the evaluation "
                 "episodes, with the policy acting deterministically.")  # fmt: skip
    if f.target is not None:
        scale += f" Target: {f.target:g} (iterating stops once a candidate reaches it)."
    return [*lines, scale]


def render_schema(schema: EnvSchema) -> str:
    """Exactly the text the LLM sees: never the fitness expression or hidden fields."""
    lines = [f"# Environment: {schema.env_id}", "", schema.description.strip(), ""]
    if schema.auto:
        lines += [
            "(This schema was generated automatically from the observation space and the env's "
            "documentation; field meanings may be incomplete.)",
            "",
        ]
    lines += [
        "## State",
        "`state` and `next_state` are dicts of numpy float64 arrays; every array has leading "
        "dimension N (parallel envs). `next_state` is the state after the action; at the end of "
        "an episode it is the final state (before any reset).",
        "",
        "| name | shape | unit | description |",
        "|---|---|---|---|",
    ]
    for f in schema.fields:
        if not f.hidden:
            desc = " ".join(f.description.split())
            lines.append(f"| {f.name} | {_shape_text(f.shape)} | {f.unit} | {desc} |")
    a = schema.action
    if a.n is not None:
        kind = f"integer array, shape (N,), values 0..{a.n - 1}"
    else:
        kind = f"float array, shape {_shape_text(a.shape)}{_bounds_text(a.low, a.high)}"
    lines += ["", "## Action", f"`action`: {kind}.", " ".join(a.description.split()), ""]
    if schema.episode_length is None:
        limit = "No time limit: an episode lasts until the environment ends it."
    else:
        limit = f"At most {schema.episode_length} steps per episode."
    lines += ["## Episode", limit, ""]
    from autoreward.envs.physics import physics_lines

    physics = physics_lines(schema)
    if physics:
        lines += ["## Physical parameters", *physics, ""]
    lines += ["## How success is judged", *_fitness_lines(schema), ""]
    if schema.reward_hints:
        lines += ["## Notes for reward design"]
        lines += [f"- {' '.join(h.split())}" for h in schema.reward_hints]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
