"""`autoreward envs list` and `autoreward envs show ID`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from autoreward.envs.registry import (
    list_schemas,
    load_schema,
    overridden_schemas,
    render_schema,
    schema_dir,
    schema_file,
)


def _budget(steps: int) -> str:
    return f"{steps / 1e6:g}M" if steps >= 1_000_000 else f"{steps / 1e3:g}k"


def _fitness_text(kind: str, target: float | None, description: str) -> str:
    head = kind if target is None else f"{kind}, target {target:g}"
    return f"{head}: {description}"


def list_envs(console: Console) -> None:
    """A table of the shipped schemas: id, state fields, default training and fitness."""
    table = Table(title="Environment schemas (envs/ and AUTOREWARD_ENVS_DIR)", title_justify="left")
    table.add_column("id", style="bold cyan", no_wrap=True)
    table.add_column("from")
    table.add_column("fields", justify="right")
    table.add_column("algo")
    table.add_column("budget", justify="right")
    table.add_column("fitness")
    overridden = overridden_schemas()
    for env_id in list_schemas():
        s = load_schema(env_id)
        visible = sum(not f.hidden for f in s.fields)
        table.add_row(env_id, _origin(env_id, overridden), str(visible), s.train.algo,
                      _budget(s.train.total_steps),
                      _fitness_text(s.fitness.kind, s.fitness.target, s.fitness.description))  # fmt: skip
    console.print(table)
    for env_id, path in overridden.items():
        console.print(f"note: {path} takes the place of the shipped {env_id} schema",
                      highlight=False, soft_wrap=True)  # fmt: skip
    console.print(
        "Any other gymnasium id or 'module:Class' gets an automatic schema: "
        "'autoreward envs show ID'.",
        highlight=False,
    )


def _origin(env_id: str, overridden: dict[str, Path]) -> str:
    path = schema_file(env_id)
    if path is None or path.parent == schema_dir():
        return "shipped"
    return f"{path.parent}" + (" (replaces shipped)" if env_id in overridden else "")


def show_env(console: Console, env_id: str) -> None:
    """Print the schema exactly as the LLM will read it (plain text, no markup); a note on
    stderr when a user schema takes the place of a shipped one."""
    overridden = overridden_schemas()
    if env_id.strip() in overridden:
        Console(stderr=True).print(
            f"note: using {overridden[env_id.strip()]} in place of the shipped {env_id} schema",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
    console.print(
        render_schema(load_schema(env_id)), markup=False, highlight=False, soft_wrap=True, end=""
    )
