"""The command line's consoles: readable in a terminal, copyable when piped.

A rich `Console` writing to a pipe or a file assumes 80 columns: it hard-wraps long lines
(a path cut in two cannot be pasted back) and squeezes tables until their cells end in `…`.
`CliConsole` keeps rich's behaviour in a terminal and, when the output is not a terminal,
prints text lines unwrapped and tables at their natural width, so nothing is cut or broken.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

WIDEST_TABLE = 1000
"""Columns a table may take in piped output (beyond that rich wraps its cells)."""


class CliConsole(Console):
    """A Console that never wraps text lines or truncates tables when it is not a terminal."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.is_terminal or self.is_jupyter:
            super().print(*objects, **kwargs)
            return
        if kwargs.get("soft_wrap") is None and all(isinstance(o, (str, Text)) for o in objects):
            kwargs["soft_wrap"] = True
        width = natural_width(self, objects)
        if width is None or kwargs.get("width") is not None:
            super().print(*objects, **kwargs)
            return
        saved = self._width
        try:
            self._width = width
            super().print(*objects, **kwargs)
        finally:
            self._width = saved


def natural_width(console: Console, objects: tuple[Any, ...]) -> int | None:
    """The width the widest table among `objects` needs without wrapping, when it exceeds
    the console's; None when no table needs more room."""
    tables = [o for o in objects if isinstance(o, Table)]
    if not tables:
        return None
    options = console.options.update(width=WIDEST_TABLE)
    needed = max(Measurement.get(console, options, t).maximum for t in tables)
    return needed if needed > console.width else None
