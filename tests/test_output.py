"""CliConsole: in a pipe, text lines are never wrapped and tables take their natural width;
in a terminal, rich's own layout is kept."""

from __future__ import annotations

import io

from rich.table import Table

from autoreward.output import CliConsole

PATH = "/very/long/" + "nested-folder/" * 10 + "prompt_1.md"


def _table() -> Table:
    table = Table()
    for col in ("task", "path", "note"):
        table.add_column(col)
    table.add_row("cartpole", PATH, "a note with several words that would wrap at eighty columns")
    return table


def test_piped_text_and_tables_are_whole() -> None:
    out = io.StringIO()
    console = CliConsole(file=out, width=80)
    console.print(f"prompt: [bold]{PATH}[/]")
    console.print(_table())
    lines = out.getvalue().splitlines()
    assert f"prompt: {PATH}" in lines
    assert "…" not in out.getvalue()
    assert any(PATH in line and "eighty columns" in line for line in lines)
    assert console.width == 80  # widened for the table only


def test_a_terminal_keeps_its_width() -> None:
    out = io.StringIO()
    console = CliConsole(file=out, width=80, force_terminal=True, color_system=None)
    console.print(_table())
    assert all(len(line) <= 80 for line in out.getvalue().splitlines())
