"""Rich live view of a run, driven by the loop's events (the same records as events.jsonl)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from autoreward.report.notes import CHECKPOINT_EPISODES

_STATE_STYLE = {
    "designing": "cyan",
    "checked": "cyan",
    "critic": "magenta",
    "queued": "dim",
    "training": "yellow",
    "done": "green",
    "failed": "red",
    "duplicate": "dim",
    "pruned": "dim",
}


FITNESS_NOTE = (
    f"fitness while training: the last checkpoint ({CHECKPOINT_EPISODES} deterministic "
    "episodes); once done: the final evaluation; best: one training seed until the final seeds"
)


@dataclass
class _Cand:
    state: str = "designing"
    fitness: float | None = None
    steps: int = 0
    total_steps: int = 0
    note: str = ""


@dataclass
class RunView:
    """Keeps the picture of a run up to date from loop events; renders it as a rich table."""

    env_id: str
    task: str
    model: str
    iterations: int
    iteration: int = 0
    phase: str = "starting"
    best_fitness: float | None = None
    best_where: str = ""
    best_seeds: str = "1 seed"
    tokens: int = 0
    cost: float = 0.0
    started: float = field(default_factory=time.time)
    cands: dict[str, _Cand] = field(default_factory=dict)
    budget_note: str = ""

    def update(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event", "")
        j = ev.get("candidate")
        if kind == "run_start":
            self.budget_note = ev.get("budget_note") or ""
        elif kind == "iteration_start":
            self.iteration = ev["iteration"]
            self.cands = {}
            self.phase = "designing"
        elif kind == "phase":
            self.phase = ev["phase"]
            if self.phase == "final seeds":
                self.cands = {}
        elif kind == "llm_usage":
            self.tokens = ev.get("tokens", self.tokens)
            self.cost = ev.get("cost", self.cost)
        elif kind == "best":
            self.best_fitness = ev.get("fitness")
            self.best_where = f"iter {ev.get('iteration')} cand {ev.get('candidate')}"
            self.best_seeds = "1 seed"
        elif kind == "final" and ev.get("mean") is not None:
            self.best_fitness = ev["mean"]
            self.best_where = f"iter {ev.get('iteration')} cand {ev.get('index')}"
            self.best_seeds = f"± {ev.get('std') or 0.0:.3g} over {ev.get('n_seeds')} seeds"
        elif j is not None:
            c = self.cands.setdefault(str(j), _Cand())
            if kind == "candidate":
                c.state = ev.get("state", c.state)
                c.note = ev.get("reason", ev.get("note", c.note)) or ""
                if ev.get("fitness") is not None:
                    c.fitness = ev["fitness"]
                if ev.get("total_steps"):
                    c.total_steps = ev["total_steps"]
            elif kind == "progress":
                c.state = "training"
                c.steps = ev.get("steps", c.steps)
                c.total_steps = ev.get("total_steps", c.total_steps)
                if ev.get("fitness") is not None:
                    c.fitness = ev["fitness"]

    def render(self) -> Panel:
        table = Table(expand=True, box=None, pad_edge=False)
        table.add_column("cand", justify="right", width=9)
        table.add_column("state", width=10)
        table.add_column("steps", justify="right", width=15)
        table.add_column("fitness", justify="right", width=9)
        table.add_column("note", overflow="ellipsis", no_wrap=True)
        for j in sorted(self.cands, key=lambda k: (len(k), k)):
            c = self.cands[j]
            steps = f"{c.steps:,}/{c.total_steps:,}" if c.total_steps else ""
            fit = "" if c.fitness is None else f"{c.fitness:.3g}"
            style = _STATE_STYLE.get(c.state, "")
            table.add_row(j, Text(c.state, style=style), steps, fit, Text(c.note))
        best = (
            "—"
            if self.best_fitness is None
            else f"{self.best_fitness:.4g} ({self.best_where}, {self.best_seeds})"
        )
        elapsed = time.time() - self.started
        head = Text.assemble(
            ("iteration ", "bold"),
            f"{self.iteration + 1}/{self.iterations}  ",
            ("phase ", "bold"),
            f"{self.phase}  ",
            ("best fitness ", "bold"),
            f"{best}  ",
            ("LLM ", "bold"),
            f"{self.tokens:,} tokens ${self.cost:.4f}  ",
            ("elapsed ", "bold"),
            f"{elapsed:,.0f}s",
        )
        title = f"autoreward · {self.env_id} · {self.model}"
        lines = [Text(self.task, style="italic"), head]
        if self.budget_note:
            lines.append(Text(f"budget: {self.budget_note}", style="yellow"))
        note = Text(FITNESS_NOTE, style="dim")
        return Panel(Group(*lines, table, note), title=title)


class LiveRunView:
    """Context manager: a rich Live panel refreshed on every event (a no-op when not a terminal)."""

    def __init__(self, view: RunView, console: Console) -> None:
        self.view = view
        self.console = console
        self._live: Live | None = None

    def __enter__(self) -> LiveRunView:
        if self.console.is_terminal:
            self._live = Live(self.view.render(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.view.render())
            self._live.__exit__(None, None, None)

    def __call__(self, ev: dict[str, Any]) -> None:
        self.view.update(ev)
        if self._live is not None:
            self._live.update(self.view.render())
        elif ev.get("event") == "run_start" and ev.get("budget_note"):
            self.console.print(
                f"budget: {ev['budget_note']}", highlight=False, markup=False, soft_wrap=True
            )
        elif ev.get("event") in {"iteration_start", "candidate", "best", "final", "iteration_end"}:
            self.console.print(_plain_line(ev), highlight=False, markup=False)


def _num(x: Any) -> str:
    return "?" if not isinstance(x, (int, float)) else f"{x:.4g}"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _plain_line(ev: dict[str, Any]) -> str:
    skip = {"t", "event"}
    rest = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in ev.items()
        if k not in skip and v not in (None, "") and not isinstance(v, (dict, list))
    )
    return f"[{ev.get('event')}] {rest}"


def print_run_summary(console: Console, run_dir: str, result: Any) -> None:
    """The closing table of `autoreward run`: every candidate, the best with its spread over
    the final seeds, the texts replayed by position, cost."""
    from autoreward.report.notes import best_fitness_text, final_text, replay_marks
    from autoreward.store.rundir import RunDir

    run = RunDir(run_dir)
    table = Table(
        title="candidates",
        caption="fitness: one training seed each, deterministic evaluation (pruned: at the halving rung)",
        expand=False,
    )
    for col in ("iter", "cand", "status", "fitness", "env return", "steps", "note"):
        table.add_column(
            col,
            justify="right"
            if col in {"iter", "cand", "fitness", "env return", "steps"}
            else "left",
        )
    best = getattr(result, "best", None)
    for rec in run.candidate_records():
        is_best = best is not None and (best.iteration, best.index) == (
            rec.iteration,
            rec.index,
        )
        style = (
            "bold green"
            if is_best
            else _STATE_STYLE.get(
                {"trained": "done", "failed_check": "failed", "failed_train": "failed"}.get(
                    rec.status, rec.status
                ),
                "",
            )
        )
        table.add_row(
            str(rec.iteration),
            str(rec.index),
            Text(rec.status + (" ★" if is_best else ""), style=style),
            "" if rec.fitness is None else f"{rec.fitness:.4g}",
            "" if rec.env_return is None else f"{rec.env_return:.4g}",
            f"{rec.steps:,}" if rec.steps else "",
            Text(_short((rec.reason or "").splitlines()[0] if rec.reason else "", 70)),
        )
    console.print(table)
    if best is None:
        console.print(
            "[red]no candidate trained successfully[/]; see events.jsonl and the check.json files"
        )
    else:
        final = getattr(result, "final", None)
        console.print(
            f"best: iteration {best.iteration} candidate {best.index}, fitness "
            f"{best_fitness_text(best.fitness, final)}",
            highlight=False,
        )
        estimates = (final or {}).get("candidates") or []
        if len(estimates) > 1:
            for e in estimates:
                console.print(
                    f"  iter {e.get('iteration')} cand {e.get('index')}: "
                    f"{final_text(e) or 'no successful seed'} (single seed "
                    f"{_num(e.get('screening_fitness'))})",
                    highlight=False,
                )
            console.print(f"  chosen by: {(final or {}).get('rule', '')}", highlight=False)
        console.print(f"best reward: [bold]{run.best_dir / 'reward.py'}[/]")
    if getattr(result, "budget_note", ""):
        console.print(f"budget: {result.budget_note}", highlight=False, soft_wrap=True)
    replayed = getattr(result, "replayed", None)
    if replayed is not None:
        console.print(
            f"replay: {replayed['exact']} answers for identical prompts, "
            f"{replayed['position']} by position (same templates and task, other training "
            "numbers)",
            highlight=False,
        )
    marks = replay_marks(run.path).summary()
    if marks:
        console.print(f"[yellow]note[/]: {marks}", highlight=False)
    console.print(
        f"LLM: {getattr(result, 'tokens', 0):,} tokens, ${getattr(result, 'cost', 0.0):.4f}; "
        f"wall time {getattr(result, 'wall_s', 0.0):,.0f}s; run directory {run.path}"
    )
