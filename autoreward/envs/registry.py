"""Finding a schema for an env id, and rendering it as the text the LLM reads.

Shipped YAML schemas live in the top-level `envs/` folder, one `<env id>.yaml` per env
(override the folder with `AUTOREWARD_ENVS_DIR`). Any other registered gymnasium id, or a
`module:Class` entry point, gets an auto-schema (`autoschema.py`).
"""

from __future__ import annotations

import difflib
import functools
import os
from pathlib import Path

import numpy as np

from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError, UnknownEnvError


def schema_dir() -> Path:
    """The folder holding shipped `<env id>.yaml` schemas."""
    override = os.environ.get("AUTOREWARD_ENVS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "envs"


def list_schemas() -> list[str]:
    """Env ids with a shipped YAML schema, sorted."""
    folder = schema_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_schema_file(path: Path) -> EnvSchema:
    """Parse and validate one schema YAML file; every problem is named `file:line:col`."""
    from autoreward.yamlfile import read_yaml, require_mapping, validate

    doc = read_yaml(path, what="schema file")
    require_mapping(doc, "schema keys (env_id, description, fields, ...)")
    return validate(EnvSchema, doc, "schema")


def load_schema(env_id: str) -> EnvSchema:
    """The shipped schema for `env_id`, else an auto-schema; unknown ids name close matches."""
    return _load_cached(env_id.strip(), schema_dir()).model_copy(deep=True)


@functools.lru_cache(maxsize=64)
def _load_cached(env_id: str, folder: Path) -> EnvSchema:
    path = folder / f"{env_id}.yaml"
    if path.is_file():
        schema = load_schema_file(path)
        if schema.env_id != env_id:
            raise ConfigError(f"{path}: env_id is '{schema.env_id}', expected '{env_id}'")
        return schema
    import gymnasium as gym

    from autoreward.envs.autoschema import build_auto_schema

    if ":" in env_id or env_id in gym.registry:
        return build_auto_schema(env_id)
    raise unknown_env_error(env_id)


def unknown_env_error(env_id: str) -> UnknownEnvError:
    """An UnknownEnvError naming the closest shipped or registered ids."""
    import gymnasium as gym

    candidates = sorted(set(list_schemas()) | set(gym.registry))
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(env_id.lower(), list(by_lower), n=4, cutoff=0.6)
    matches = [by_lower[c] for c in close]
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
    lines += ["## Episode", f"At most {schema.episode_length} steps per episode.", ""]
    lines += ["## How success is judged", " ".join(schema.fitness.description.split()), ""]
    if schema.reward_hints:
        lines += ["## Notes for reward design"]
        lines += [f"- {' '.join(h.split())}" for h in schema.reward_hints]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
