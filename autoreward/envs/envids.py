"""Which env ids there are here: the schema folders (the shipped `envs/` and the user's
`AUTOREWARD_ENVS_DIR`), and the ids close to a mistyped one that can be made here. Both the
registry and `extract.make_base_env` name close ids in their errors."""

from __future__ import annotations

import difflib
import functools
import os
from pathlib import Path

from autoreward.errors import ConfigError

ENVS_DIR_VAR = "AUTOREWARD_ENVS_DIR"


def schema_dir() -> Path:
    """The folder holding the shipped `<env id>.yaml` schemas (and `suites/`)."""
    return Path(__file__).resolve().parents[2] / "envs"


def user_schema_dirs() -> list[Path]:
    """The user's schema folders from `AUTOREWARD_ENVS_DIR`, in order; a missing one is an error."""
    value = os.environ.get(ENVS_DIR_VAR, "")
    folders = [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{ENVS_DIR_VAR}: {folder} is not a folder",
                              hint=f"point {ENVS_DIR_VAR} at a folder of <env id>.yaml schemas, or unset it")  # fmt: skip
    return folders


def schema_dirs() -> list[Path]:
    """Where schemas are looked up, first match wins: the user's folders, then the shipped one."""
    return [*user_schema_dirs(), schema_dir()]


def schema_file(env_id: str) -> Path | None:
    """The YAML file that defines `env_id` (the first folder that has one), or None."""
    for folder in schema_dirs():
        path = folder / f"{env_id.strip()}.yaml"
        if path.is_file():
            return path
    return None


def is_shipped(env_id: str) -> bool:
    """Whether `env_id` is defined by a shipped schema file (one a worker can load by id)."""
    path = schema_file(env_id)
    return path is not None and path.parent == schema_dir()


def list_schemas() -> list[str]:
    """Env ids with a YAML schema (shipped or the user's), sorted."""
    return sorted({p.stem for folder in schema_dirs() for p in folder.glob("*.yaml")})


def overridden_schemas() -> dict[str, Path]:
    """Shipped env ids a user schema takes the place of, with the user's file."""
    shipped = {p.stem for p in schema_dir().glob("*.yaml")}
    return {env_id: path for env_id in sorted(shipped)
            if (path := schema_file(env_id)) is not None and path.parent != schema_dir()}  # fmt: skip


def close_env_ids(env_id: str, n: int = 4) -> list[str]:
    """Up to `n` schema or registered ids close to `env_id` that can be made here."""
    import gymnasium as gym

    own = set(list_schemas())
    by_lower = {c.lower(): c for c in sorted(own | set(gym.registry))}
    close = difflib.get_close_matches(env_id.lower(), list(by_lower), n=12, cutoff=0.6)
    ids = (by_lower[c] for c in close if by_lower[c] != env_id)
    return [m for m in ids if m in own or _can_make(m)][:n]


@functools.lru_cache(maxsize=256)
def _can_make(env_id: str) -> bool:
    """Whether `gym.make(env_id)` works here (its dependencies are installed)."""
    import warnings

    import gymnasium as gym

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gym.make(env_id).close()
    except Exception:  # any failure to build means: do not suggest it
        return False
    return True
