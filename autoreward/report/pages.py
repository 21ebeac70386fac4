"""What every HTML page of the report shares: the templates' Jinja environment (with the
`fmt`, `money` and `thousands` filters), the page's file name and the time it was generated."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from autoreward.report.fragments import fmt as _fmt

TEMPLATES = Path(__file__).parent / "templates"
REPORT_NAME = "report.html"


def page_env(*extra: Path) -> Environment:
    """The report's Jinja environment; `extra` template folders (the studio's) are searched
    before the report's own."""
    folders = [*extra, TEMPLATES]
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(folder)) for folder in folders]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["money"] = lambda x: f"${float(x or 0):.4f}"
    env.filters["thousands"] = lambda x: f"{int(x or 0):,}"
    return env


def now_text() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
