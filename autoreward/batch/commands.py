"""`autoreward batch`: check the suite, run it with a live table of tasks, print the results."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from autoreward.batch import BatchDir, BatchResult, TaskRow, run_batch
from autoreward.batch.suites import Suite, load_suite, suite_problems, task_run_config
from autoreward.envs.custom_fitness import undescribed_thresholds
from autoreward.envs.registry import load_schema
from autoreward.errors import ConfigError
from autoreward.ui import manual_event_text, manual_pending_text

_STATUS_STYLE = {"pending": "dim", "running": "yellow", "done": "green", "failed": "red"}


@dataclass
class _Task:
    env: str
    status: str = "pending"
    phase: str = ""
    iteration: str = ""
    best: float | None = None
    baseline: float | None = None
    baseline_progress: str = ""
    sparse: float | None = None
    sparse_progress: str = ""
    random: float | None = None
    normalized: float | None = None
    normalized_sparse: float | None = None
    tokens: int = 0
    cost: float = 0.0
    started: float | None = None
    wall_s: float | None = None
    reason: str = ""


@dataclass
class BatchView:
    """The state of every task of a batch, kept up to date from batch events (thread-safe)."""

    suite: str
    tasks: dict[str, _Task]
    iterations: dict[str, int] = field(default_factory=dict)
    batch_dir: str = ""
    started: float = field(default_factory=time.time)
    manual: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    """Prompts waiting for a person's answer (`--model manual`), by (task, prompt number):
    each task numbers its own prompts, so the task is shown with every one."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, ev: dict[str, Any]) -> None:
        with self._lock:
            self._update(ev)

    def _update(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "batch_start":
            self.batch_dir = ev.get("batch_dir", "")
            return
        t = self.tasks.get(str(ev.get("task")))
        if t is None:
            return
        if kind == "task_state":
            t.status = ev.get("status", t.status)
            if t.status == "running" and t.started is None:
                t.started = time.time()
            for key, attr in [("best_fitness", "best"), ("baseline_fitness", "baseline"),
                              ("sparse_fitness", "sparse"), ("random_fitness", "random"),
                              ("normalized", "normalized"), ("normalized_sparse", "normalized_sparse"),
                              ("tokens", "tokens"), ("cost", "cost"), ("wall_s", "wall_s")]:  # fmt: skip
                if ev.get(key) is not None:
                    setattr(t, attr, ev[key])
            if ev.get("reason"):
                t.reason = ev["reason"]
            if t.status in ("done", "failed"):
                t.phase = ""
        elif kind == "task_phase":
            t.phase = ev.get("phase", t.phase)
        elif kind == "task_baseline":
            value, progress = ("sparse", "sparse_progress") if ev.get("baseline") == "sparse" else (
                "baseline", "baseline_progress")  # fmt: skip
            if ev.get("total_steps"):
                setattr(t, progress, f"{100 * ev.get('steps', 0) / ev['total_steps']:.0f}%")
            if ev.get("fitness") is not None:
                setattr(t, value, ev["fitness"])
                setattr(t, progress, "")
            elif ev.get("note"):
                setattr(t, progress, "failed")
        elif kind == "task_error":
            t.reason = ev.get("error", "")
        elif kind == "task_loop":
            self._loop_event(str(ev.get("task")), t, ev.get("loop") or {})

    def _loop_event(self, name: str, t: _Task, ev: dict[str, Any]) -> None:
        inner = ev.get("event")
        if inner == "manual_wait":
            self.manual[(name, int(ev["prompt"]))] = {**ev, "task": name}
        elif inner == "manual_answered":
            self.manual.pop((name, int(ev["prompt"])), None)
        elif inner == "iteration_start":
            t.iteration = str(ev.get("iteration", 0) + 1)
        elif inner == "phase":
            t.phase = ev.get("phase", "")
        elif inner == "best":
            t.best = ev.get("fitness")
        elif inner == "llm_usage":
            t.tokens, t.cost = ev.get("tokens", t.tokens), ev.get("cost", t.cost)

    def render(self) -> Group:
        with self._lock:
            parts: list[Any] = [self._render()]
            if self.manual:
                parts.append(
                    manual_pending_text(list(self.manual.values()), task_of=lambda e: e["task"])
                )
            return Group(*parts)

    def _render(self) -> Table:
        done = sum(t.status in ("done", "failed") for t in self.tasks.values())
        table = Table(
            title=f"batch {self.suite}: {done}/{len(self.tasks)} tasks finished "
            f"({_clock(time.time() - self.started)})",
            title_justify="left", expand=False,
        )  # fmt: skip
        for col, justify in [("task", "left"), ("env", "left"), ("state", "left"), ("iter", "right"),
                             ("phase", "left"), ("best", "right"), ("env reward", "right"),
                             ("sparse", "right"), ("random", "right"), ("norm. env", "right"),
                             ("norm. sparse", "right"), ("tokens", "right"),
                             ("cost $", "right"), ("wall", "right")]:  # fmt: skip
            table.add_column(col, justify=justify, no_wrap=col in ("task", "env"))  # type: ignore[arg-type]
        for name, t in self.tasks.items():
            wall = (
                t.wall_s
                if t.wall_s is not None
                else (time.time() - t.started if t.started else None)
            )
            total = self.iterations.get(name)
            baseline = _fmt(t.baseline) if t.baseline is not None else (t.baseline_progress or "–")
            sparse = _fmt(t.sparse) if t.sparse is not None else (t.sparse_progress or "–")
            table.add_row(
                name, t.env, Text(t.status, style=_STATUS_STYLE.get(t.status, "")),
                f"{t.iteration}/{total}" if t.iteration and total else t.iteration,
                Text(t.reason if t.status == "failed" else t.phase, overflow="ellipsis", no_wrap=True),
                _fmt(t.best), baseline, sparse, _fmt(t.random), _fmt(t.normalized, 2),
                _fmt(t.normalized_sparse, 2), f"{t.tokens:,}",
                f"{t.cost:.3f}", _clock(wall) if wall is not None else "",
            )  # fmt: skip
        return table


class LiveBatchView:
    """A rich Live display of a BatchView in a terminal, one line per task state change
    otherwise; the instance is the batch's `on_event` callback."""

    def __init__(self, view: BatchView, console: Console) -> None:
        self.view, self.console = view, console
        self._live = (
            Live(console=console, refresh_per_second=2, get_renderable=view.render)
            if console.is_terminal
            else None
        )

    def __enter__(self) -> LiveBatchView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def __call__(self, ev: dict[str, Any]) -> None:
        self.view.update(ev)
        inner = (ev.get("loop") or {}) if ev.get("event") == "task_loop" else {}
        if inner.get("event") in {"manual_wait", "manual_answered"}:
            self.console.print(
                manual_event_text(inner, task=str(ev.get("task"))), highlight=False, soft_wrap=True
            )
        elif self._live is None and ev.get("event") == "task_state":
            line = f"[task] {ev.get('task')} {ev.get('status')}"
            for key in ("best_fitness", "baseline_fitness", "normalized"):
                if isinstance(ev.get(key), (int, float)):
                    line += f" {key}={ev[key]:.4g}"
            if ev.get("reason"):
                line += f" reason={ev['reason']}"
            self.console.print(line, highlight=False, markup=False)


# =========================================================================== the command


def batch_command(
    console: Console,
    suite_arg: str | None,
    *,
    tasks: str | None,
    executor: str,
    workers: int,
    ray_address: str | None,
    model: str | None,
    api_base: str | None,
    out: Path,
    resume: Path | None,
    overrides: dict[str, Any],
    parallel: int,
    dry_run: bool,
) -> int:
    """Returns the process exit code: 0 when every task finished, 1 when some failed."""
    names = [n.strip() for n in tasks.split(",") if n.strip()] if tasks else None
    suite = _suite_for(suite_arg, resume)
    selected = suite.select(names)
    if dry_run:
        return _dry_run(console, suite, [t.name for t in selected], model, overrides)
    problems = suite_problems(suite, [t.name for t in selected])
    if problems:
        raise ConfigError(
            f"{len(problems)} task(s) cannot run:\n  "
            + "\n  ".join(
                f"{suite.where(suite.task(n))}: task '{n}': {p}" for n, p in problems.items()
            ),
            hint="fix the suite, or leave those tasks out with --tasks",
        )
    for task in selected:
        for warning in undescribed_thresholds(task.fitness) if task.fitness else []:
            console.print(
                f"[yellow]warning[/]: task '{escape(task.name)}': {escape(warning)}",
                highlight=False,
                soft_wrap=True,
            )
    shown = overrides if resume is None else BatchDir.open(resume).load_spec()[1].get("overrides")
    view = BatchView(
        suite=suite.name,
        tasks={t.name: _Task(env=t.env) for t in selected},
        iterations={
            t.name: task_run_config(suite, t, overrides=shown).iterations for t in selected
        },
    )
    if resume is not None:
        console.print(f"resuming batch: [bold]{resume}[/]")
    try:
        with LiveBatchView(view, console) as live:
            result = run_batch(
                suite, out=out, tasks=names, executor=executor,  # type: ignore[arg-type]
                workers=workers, ray_address=ray_address, model=model, api_base=api_base,
                overrides=overrides, resume=resume, parallel=parallel, on_event=live,
            )  # fmt: skip
    except KeyboardInterrupt:
        where = view.batch_dir or str(resume or "")
        console.print(f"[yellow]interrupted[/]; resume with: autoreward batch --resume {where}")
        return 130
    console.print()
    print_batch_summary(console, result)
    return 1 if result.failed else 0


def _suite_for(suite_arg: str | None, resume: Path | None) -> Suite:
    if suite_arg is not None:
        return load_suite(suite_arg, check_envs=False)
    if resume is None:
        raise ConfigError(
            "a suite is needed: autoreward batch SUITE.yaml (or a shipped suite name)",
            hint="autoreward batch classic --dry-run lists the classic suite's tasks",
        )
    suite, _ = BatchDir.open(resume).load_spec()
    return suite


def _dry_run(
    console: Console, suite: Suite, names: list[str], model: str | None, overrides: dict[str, Any]
) -> int:
    problems = suite_problems(suite, names, dry_run=True)
    table = Table(title=f"suite {suite.name}: {len(names)} task(s)", title_justify="left")
    for col in ["task", "env", "algo", "steps", "iter × K", "fitness", "target", "check"]:
        table.add_column(col, no_wrap=col in ("task", "env"), overflow="fold")
    for name in names:
        task = suite.task(name)
        cfg = task_run_config(suite, task, model=model, overrides=overrides)
        fit = task.fitness
        algo, steps = cfg.algo, cfg.steps
        if name not in problems:
            train = load_schema(task.env).train
            algo, steps = algo or train.algo, steps or train.total_steps
        table.add_row(
            name, task.env, algo or "?", f"{steps:,}" if steps else "?",
            f"{cfg.iterations} × {cfg.samples}",
            f"{fit.kind}, {fit.aggregate}" if fit else "(schema)",
            "" if fit is None or fit.target is None else f"{fit.target:g}",
            Text(problems[name], style="red") if name in problems else Text("ok", style="green"),
        )  # fmt: skip
    console.print(table)
    if problems:
        console.print(f"[red]{len(problems)} task(s) cannot run[/]")
        return 1
    console.print(
        "every task checks out (env schema, state fields, fitness on 32 random transitions)"
    )
    return 0


def print_batch_summary(console: Console, result: BatchResult) -> None:
    table = Table(title=f"results: {result.suite}", title_justify="left")
    for col in ["task", "status", "chosen, screening seed", "final seeds", "env reward", "sparse fitness",
                "random", "norm. vs env", "norm. vs sparse", "iters", "tokens", "cost $", "wall"]:  # fmt: skip
        table.add_column(col, no_wrap=col == "task", overflow="fold")
    for r in result.rows:
        final = (
            "–" if r.final_fitness is None else f"{r.final_fitness:.3f} ± {r.final_std or 0.0:.3f}"
        )
        table.add_row(
            r.task, Text(r.status, style=_STATUS_STYLE.get(r.status, "")), _fmt(r.best_fitness),
            final, _fmt(r.baseline_fitness), _fmt(r.sparse_fitness), _fmt(r.random_fitness),
            _fmt(r.normalized, 2), _fmt(r.normalized_sparse, 2), str(r.iterations), f"{r.tokens:,}",
            f"{r.cost:.4f}", _clock(r.wall_s),
        )  # fmt: skip
    console.print(table)
    for r in result.rows:
        if r.status == "failed" or r.note:
            console.print(_note_line(r), highlight=False)
    path = Path(result.batch_dir)
    console.print(f"results: [bold]{path / 'results.md'}[/] (also results.csv, index.sqlite)")
    if result.failed:
        console.print(f"resume: autoreward batch --resume {path}")


def _note_line(r: TaskRow) -> Text:
    if r.status == "failed":
        return Text.assemble((f"  {r.task}: ", "bold"), ("failed: ", "red"), r.reason)
    return Text.assemble((f"  {r.task}: ", "bold"), r.note)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )
