"""The `autoreward` command line: typer + rich. Commands parse options and call the rooms."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from autoreward import __version__
from autoreward.errors import AutorewardError

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MUJOCO_GL", "egl")

app = typer.Typer(
    name="autoreward",
    help="LLM-written dense reward functions, checked, sandboxed and proven by training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
envs_app = typer.Typer(help="Environment schemas: what the LLM reads about an environment.", no_args_is_help=True)
app.add_typer(envs_app, name="envs")

console = Console()
err_console = Console(stderr=True)
_debug = False


def _fail(err: BaseException) -> None:
    if _debug:
        raise err
    err_console.print(f"[bold red]error:[/] {err}", highlight=False, markup=True)
    raise typer.Exit(code=2)


def _version(value: bool) -> None:
    if value:
        console.print(f"autoreward {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    global _debug
    _debug = debug


# --------------------------------------------------------------------------- envs


@envs_app.command("list")
def envs_list() -> None:
    """List the shipped environment schemas."""
    from autoreward.envs.commands import list_envs

    try:
        list_envs(console)
    except AutorewardError as err:
        _fail(err)


@envs_app.command("show")
def envs_show(
    env_id: Annotated[str, typer.Argument(help="Gymnasium id (e.g. Hopper-v5) or module:Class.")],
) -> None:
    """Print an environment's schema exactly as the LLM will see it."""
    from autoreward.envs.commands import show_env

    try:
        show_env(console, env_id)
    except AutorewardError as err:
        _fail(err)


# --------------------------------------------------------------------------- check


@app.command()
def check(
    reward_file: Annotated[Path, typer.Argument(help="Python file defining compute_reward.")],
    env: Annotated[str, typer.Option("--env", help="Environment id.")],
    states: Annotated[int, typer.Option(help="States sampled for the dry run.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for sampling states.")] = 0,
) -> None:
    """Validate a reward file and dry-run it in the sandbox on states from the real env."""
    from autoreward.sandbox.commands import check_command

    try:
        code = check_command(console, reward_file, env, n_states=states, seed=seed)
    except AutorewardError as err:
        _fail(err)
    raise typer.Exit(code=code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
