"""The command line's machinery, shared by every command of `cli.py`: command classes that
read `--debug` anywhere on the line and show no `<bool>` beside flags, the one-clean-line error
handling (with Ctrl-C), and the option types several commands share."""

from __future__ import annotations

import copy
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from autoreward.errors import AutorewardError, ConfigError
from autoreward.output import CliConsole

DEBUG_FLAG = "--debug"
SANDBOX_FLAG = "--sandbox"
ALGOS_HELP = "PPO, SAC, TD3, A2C, or DQN (discrete actions only); default: the env schema's."
_debug = False
"""Whether --debug was given (set by the root group for each invocation)."""


# --------------------------------------------------------------------------- command classes


def _tidy(params: list[Any]) -> list[Any]:
    """A flag has no value to show: typer would print `<bool>` beside every --flag/--no-flag."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


def _with_debug(ctx: Any, command: Any, params: list[Any]) -> list[Any]:
    """A sub-command's parameters plus the root's `--debug`, for its --help only (the root
    group takes the flag out of the arguments wherever it is, see `Group.parse_args`)."""
    root = ctx.find_root().command
    debug = next((p for p in root.params if DEBUG_FLAG in getattr(p, "opts", ())), None)
    if debug is None or root is command or any(p.name == "debug" for p in params):
        return params
    shown = copy.copy(debug)
    shown.expose_value = False
    return [*params[:-1], shown, params[-1]] if params else [shown]


class Command(TyperCommand):
    """Every command lists `--debug` in its --help and shows no `<bool>` beside its flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(_with_debug(ctx, self, super().get_params(ctx)))


class Group(TyperGroup):
    """`--debug` works before or after the command name: the root group takes it out of the
    arguments wherever it appears (before a `--`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        global _debug
        if ctx.parent is None:
            end = args.index("--") if "--" in args else len(args)
            head = args[:end]
            _debug = DEBUG_FLAG in head
            head, sandbox = _take_sandbox([a for a in head if a != DEBUG_FLAG])
            args = head + args[end:]
            if sandbox is not None:  # given after the command name: applied here
                with errors():
                    apply_sandbox(sandbox)
        return super().parse_args(ctx, args)

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(_with_debug(ctx, self, super().get_params(ctx)))


def _take_sandbox(args: list[str]) -> tuple[list[str], str | None]:
    """`--sandbox VALUE` / `--sandbox=VALUE` after the command name, taken out of `args`."""
    if args and args[0].startswith(SANDBOX_FLAG):
        return args, None  # before the command name: the root option reads it
    out, value = [], None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == SANDBOX_FLAG and i + 1 < len(args):
            value, i = args[i + 1], i + 2
            continue
        if arg.startswith(SANDBOX_FLAG + "="):
            value = arg.split("=", 1)[1]
        else:
            out.append(arg)
        i += 1
    return out, value


def apply_sandbox_binds(paths: list[Path]) -> None:
    """`--sandbox-bind PATH`: folders every container may read (AUTOREWARD_SANDBOX_BIND)."""
    if not paths:
        return
    from autoreward.sandbox.container import BIND_ENV_VAR, is_project_root

    for path in paths:
        if not path.is_dir():
            raise ConfigError(
                f"--sandbox-bind {path}: not a folder", hint="name an existing folder to bind"
            )
        if is_project_root(path.resolve()):
            raise ConfigError(
                f"--sandbox-bind {path}: a project root (it holds pyproject.toml, setup.py or "
                ".git, and may hold .env files and runs/) is never bound whole",
                hint="bind the package folder inside it instead",
            )
    os.environ[BIND_ENV_VAR] = os.pathsep.join(str(p.resolve()) for p in paths)


def apply_sandbox(policy: str | None) -> None:
    """`--sandbox auto|strict` for the workers of this process (see sandbox/worker.py)."""
    if policy:
        from autoreward.sandbox.worker import set_policy

        set_policy(policy)


err_console = CliConsole(stderr=True)


def set_debug(value: bool) -> None:
    global _debug
    _debug = _debug or value


def fail(err: BaseException) -> None:
    if _debug:
        raise err
    err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, markup=True)
    raise typer.Exit(code=2)


def on_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C: also stop the threads waiting for `--model manual` answer files and kill the
    training workers (they run in their own sessions and never see the terminal's interrupt;
    a batch's task threads would otherwise wait for them), either of which would keep the
    interrupted process alive; then the usual KeyboardInterrupt."""
    from autoreward.exec.local import stop_all_jobs
    from autoreward.llm.manual import stop_waiting

    stop_waiting()
    stop_all_jobs()
    signal.default_int_handler(signum, frame)


@contextmanager
def errors() -> Iterator[None]:
    """Expected failures are one clean line (a traceback only with --debug); Ctrl-C exits 130."""
    from autoreward.exec.local import allow_jobs
    from autoreward.llm.manual import allow_waiting

    allow_waiting()
    allow_jobs()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    except AutorewardError as err:
        fail(err)
    except OSError as err:  # an unreadable or missing file the command did not check itself
        where = f"{err.filename}: " if err.filename else ""
        fail(ConfigError(f"{where}{err.strerror or err}") if not _debug else err)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- shared options

FitnessOpt = Annotated[
    str | None,
    typer.Option(
        "--fitness",
        help="Task fitness as a numpy expression over state, action, next_state (per step, "
        "shape (N,)), e.g. \"next_state['x_velocity']\"; replaces the schema's. Never shown to the LLM.",
        rich_help_panel="Fitness",
    ),
]
FitnessKindOpt = Annotated[
    str | None,
    typer.Option(
        help="score (mean per-episode aggregate) or success (fraction of episodes whose "
        "aggregate reaches --fitness-threshold).",
        rich_help_panel="Fitness",
    ),
]
FitnessAggregateOpt = Annotated[
    str | None,
    typer.Option(
        help="How an episode's step values combine: sum, mean, final, max or min.",
        rich_help_panel="Fitness",
    ),
]
FitnessThresholdOpt = Annotated[
    float | None,
    typer.Option(help="Success threshold (for --fitness-kind success).", rich_help_panel="Fitness"),
]
FitnessDescriptionOpt = Annotated[
    str | None,
    typer.Option(
        help="What the fitness measures, in words: the only part the designer reads "
        "(needed with --fitness on `run`).",
        rich_help_panel="Fitness",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        help="Torch device: cpu, cuda, or auto (cuda when this torch build sees a GPU, else cpu)."
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        help="Training backend: sb3 (stable-baselines3 on gymnasium, CPU), warp (rsl-rl PPO on "
        "thousands of batched MuJoCo Warp worlds: MuJoCo schemas, a GPU or Warp's slow CPU "
        "device; --n-envs counts worlds, --hyperparams are rsl-rl's), or auto (warp on a GPU "
        "where the schema supports it, else sb3)."
    ),
]


def fitness_options(**parts: Any) -> dict[str, Any]:
    return {k: v for k, v in parts.items() if v is not None}
