"""What `autoreward refine` shows each turn: the best reward so far (fitness with its spread,
code, video), component statistics as sparklines over the training checkpoints (with what
their fitness measures), the analyzer's summary and the last iteration's candidates; texts
replayed by position from a recording are marked as such."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from autoreward.report.data import CandidateView, IterationView, RunView, finite_float
from autoreward.report.notes import REPLAY_NOTE, best_fitness_text, curve_caption, final_for

SPARK = "▁▂▃▄▅▆▇█"
ANALYSIS_LINES = 24


def sparkline(values: list[float | None]) -> str:
    """Unicode bars over min..max; a gap for a missing value; a flat line for constant values."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif hi == lo:
            out.append(SPARK[len(SPARK) // 2 - 1])
        else:
            out.append(SPARK[round((v - lo) / (hi - lo) * (len(SPARK) - 1))])
    return "".join(out)


def show_state(console: Console, view: RunView, it: IterationView) -> None:
    best = view.best
    console.rule(f"[bold]{view.env_id}[/]")
    console.print(Text(view.task, style="italic"), soft_wrap=True)  # whole, never cut to "…"
    if best is None:
        console.print(
            "[red]no candidate has trained successfully yet[/]; feedback still reaches the designer"
        )
    else:
        console.print(_best_panel(view, best))
        # outside the panel, on one line: a path broken by the panel's border cannot be copied
        console.print(
            f"video of the best: {best.video}" if best.video else "video of the best: none recorded",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
        stats = statistics_table(best, _eval_episodes(best, view))
        if stats is not None:
            console.print(stats)
    if it.analysis:
        console.print(_analysis_panel(it, view.replays.analysis(it.index)))
    console.print(candidates_table(it, best, view.path))
    replayed = view.replays.summary()
    if replayed:
        console.print(Text(f"note: {replayed}", style="yellow"))


def _eval_episodes(c: CandidateView, view: RunView) -> int | None:
    episodes = (c.evaluation or {}).get("episodes")
    if isinstance(episodes, list) and episodes:
        return len(episodes)
    value = view.config.get("eval_episodes")
    return value if isinstance(value, int) else None


def _best_panel(view: RunView, best: CandidateView) -> Panel:
    final = final_for(view.final, best.iteration, best.index)
    head = Text.assemble(
        ("fitness ", "bold"),
        f"{best_fitness_text(best.fitness, final)}  ",
        ("env return ", "bold"),
        f"{_fmt(best.env_return)}  ",
        ("steps ", "bold"),
        f"{best.steps:,}",
    )
    lines: list[Any] = [head]
    if best.hacking:
        lines.append(Text(f"suspected reward hacking: {best.hacking}", style="yellow"))
    if best.code:
        lines.append(
            Syntax(best.code, "python", line_numbers=False, word_wrap=True, theme="ansi_dark")
        )
    title = f"best reward so far: iteration {best.iteration}, candidate {best.index}"
    return Panel(Group(*lines), title=title, title_align="left")


def statistics_table(c: CandidateView, eval_episodes: int | None = None) -> Table | None:
    """Fitness, returns and each reward component per training checkpoint, as sparklines;
    the caption says what the checkpoint fitness measures against the headline."""
    curve = c.curve()
    stats = c.stats or {}
    points = stats.get("checkpoints") or []
    rows: list[tuple[str, list[float | None]]] = [
        ("fitness", [finite_float(p.get("fitness")) for p in curve]),
        ("generated return", [finite_float(p.get("generated_return")) for p in curve]),
        ("env return", [finite_float(p.get("env_return")) for p in curve]),
    ]
    for name in stats.get("components") or []:
        rows.append(
            (f"  {name}", [finite_float((p.get("per_episode") or {}).get(name)) for p in points])
        )
    rows = [(n, v) for n, v in rows if any(x is not None for x in v)]
    if not rows:
        return None
    steps = [p.get("step") for p in (curve or points)]
    caption = f"{len(steps)} checkpoints" + (
        f", steps {steps[0]:,}–{steps[-1]:,}" if steps and None not in (steps[0], steps[-1]) else ""
    )
    caption += ". " + curve_caption(eval_episodes, stats)
    table = Table(
        title="training statistics (components: sum per episode)",
        caption=caption,
        title_justify="left",
    )
    for col, just in (
        ("", "left"),
        ("trend", "left"),
        ("first", "right"),
        ("last", "right"),
        ("min", "right"),
        ("max", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for name, values in rows:
        finite = [v for v in values if v is not None]
        first = next((v for v in values if v is not None), None)
        last = next((v for v in reversed(values) if v is not None), None)
        table.add_row(
            name,
            Text(sparkline(values), style="cyan"),
            _fmt(first),
            _fmt(last),
            _fmt(min(finite)),
            _fmt(max(finite)),
        )
    return table


def _analysis_panel(it: IterationView, replayed: bool = False) -> Panel:
    text = (it.analysis or "").strip()
    lines = text.splitlines()
    if len(lines) > ANALYSIS_LINES:
        text = "\n".join(lines[:ANALYSIS_LINES]) + f"\n\n… (full text: {it.folder / 'analysis.md'})"
    body: Any = Markdown(text)
    title = f"analyzer, iteration {it.index}"
    if replayed:
        body = Group(Text(f"note: this analysis was {REPLAY_NOTE}", style="yellow"), body)
        title += " (replayed by position)"
    return Panel(body, title=title, title_align="left")


def candidates_table(it: IterationView, best: CandidateView | None, run_path: Path) -> Table:
    videos = any(c.video for c in it.candidates)
    table = Table(
        title=f"iteration {it.index}: candidates",
        title_justify="left",
        caption=f"videos are under {run_path}" if videos else None,
        caption_justify="left",
    )
    for col in ("cand", "status", "fitness", "env return", "steps", "video", "note"):
        table.add_column(
            col, justify="right" if col in {"cand", "fitness", "env return", "steps"} else "left"
        )
    for c in it.candidates:
        is_best = best is not None and (best.iteration, best.index) == (c.iteration, c.index)
        style = "bold green" if is_best else ("red" if c.status.startswith("failed") else "")
        video = _relative(c.video, run_path) if c.video else ""
        table.add_row(
            str(c.index),
            Text(c.status + (" ★" if is_best else ""), style=style),
            _fmt(c.fitness),
            _fmt(c.env_return),
            f"{c.steps:,}" if c.steps else "",
            Text(video, no_wrap=True, overflow="fold"),
            c.reason[:120],
        )
    return table


def _relative(path: Path, start: Path) -> str:
    try:
        return path.relative_to(start).as_posix()
    except ValueError:
        return str(path)


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"
