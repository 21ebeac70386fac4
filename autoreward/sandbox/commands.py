"""`autoreward check`: the static check and the sandboxed dry run, printed as a rich report."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from autoreward.errors import ConfigError
from autoreward.sandbox.checker import CheckReport, check_reward_isolated

_STYLE = {"pass": ("[green]pass[/]", "green"), "warn": ("[yellow]warn[/]", "yellow"),
          "fail": ("[bold red]FAIL[/]", "red")}  # fmt: skip
MIN_STATES, MAX_STATES = 2, 4096


def read_reward_file(path: Path) -> str:
    """The source of a reward file, or a ConfigError saying what is wrong with the path."""
    if not path.exists():
        raise ConfigError(
            f"reward file not found: {path}",
            hint="pass the path to a .py file defining compute_reward",
        )
    if not path.is_file():
        raise ConfigError(
            f"not a file: {path}", hint="pass the path to a .py file defining compute_reward"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text: {err}") from err


def check_command(
    console: Console, path: Path, env_id: str, n_states: int = 64, seed: int = 0
) -> int:
    """Check `path` against `env_id`, print the report; 0 when it passes, 1 when it fails."""
    if not MIN_STATES <= n_states <= MAX_STATES:
        raise ConfigError(f"--states must be between {MIN_STATES} and {MAX_STATES}, got {n_states}")
    src = read_reward_file(path)
    from autoreward.envs.registry import load_schema

    schema = load_schema(env_id)  # an unknown id raises UnknownEnvError naming close matches
    with console.status(f"dry run of {path.name} on {schema.env_id} in the sandbox..."):
        report = check_reward_isolated(src, schema, n_states=n_states, seed=seed)
    print_report(console, report, path)
    return 0 if report.ok else 1


def print_report(console: Console, report: CheckReport, path: Path | None = None) -> None:
    """The checks table, component ranges, cost per call and the verdict."""
    title = escape(f"check {path.name if path else 'reward'} on {report.env_id}")
    if report.n_states:
        title += f" ({report.n_states} states)"
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("result", overflow="fold")
    for item in report.checks:
        badge, style = _STYLE[item.status]
        # Messages carry the reward's own exception text: plain Text, never markup.
        table.add_row(
            badge,
            Text(item.name),
            Text(item.message, style=style if item.status != "pass" else ""),
        )
    console.print(table)
    if report.components or report.total:
        comp = Table(title="components over the sampled states", title_justify="left")
        for col in ("component", "mean", "std", "min", "max"):
            comp.add_column(col, justify="left" if col == "component" else "right")
        rows = list(report.components.items()) + ([("total", report.total)] if report.total else [])
        for name, st in rows:
            comp.add_row(Text(name), f"{st.mean:.4g}", f"{st.std:.4g}", f"{st.min:.4g}", f"{st.max:.4g}",
                         style="bold" if name == "total" else None)  # fmt: skip
        console.print(comp)
    if report.ms_per_call is not None:
        console.print(f"cost: {report.ms_per_call:.3g} ms per call on {report.n_states} states")
    if report.isolation:
        console.print(Text(f"sandbox: {report.isolation}", style="dim"))
    warns, fails = len(report.warnings), len(report.failures)
    if report.ok:
        extra = f" ({warns} warning{'s' if warns != 1 else ''})" if warns else ""
        console.print(f"[bold green]PASSED[/]{extra}")
    else:
        console.print(f"[bold red]FAILED[/]: {fails} check{'s' if fails != 1 else ''} failed")
