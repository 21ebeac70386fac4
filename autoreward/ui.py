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
    f"fitness while training: the last checkpoint's evaluation ({CHECKPOINT_EPISODES} "
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
    manual: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Prompts waiting for a person's answer (`--model manual`), by prompt number."""

    def update(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event", "")
        j = ev.get("candidate")
        if kind == "run_start":
            self.budget_note = ev.get("budget_note") or ""
        elif kind == "manual_wait":
            self.manual[int(ev["prompt"])] = ev
        elif kind == "manual_answered":
            self.manual.pop(int(ev["prompt"]), None)
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
            n = int(ev.get("seeds") or 1)
            self.best_seeds = "1 seed" if n == 1 else f"mean of {n} seeds"
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
            steps = steps_text(c.steps, c.total_steps)
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
        parts: list[Any] = [Text(self.task, style="italic"), head]
        if self.budget_note:
            parts.append(Text(f"budget: {self.budget_note}", style="yellow"))
        parts += [table, Text(FITNESS_NOTE, style="dim")]
        if self.manual:
            parts.append(manual_pending_text(list(self.manual.values())))
        return Panel(Group(*parts), title=title)


class LiveRunView:
    """Context manager: a rich Live panel refreshed on every event (a no-op when not a terminal)."""

    def __init__(self, view: RunView, console: Console) -> None:
        self.view = view
        self.console = console
        self._live: Live | None = None

    def __enter__(self) -> LiveRunView:
        if self.console.is_terminal:
            # get_renderable: every refresh re-renders, so the elapsed clock keeps running
            # while the loop waits (for training, or for a person's manual answer)
            self._live = Live(
                console=self.console, refresh_per_second=4, get_renderable=self.view.render
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def __call__(self, ev: dict[str, Any]) -> None:
        self.view.update(ev)
        kind = ev.get("event")
        if kind in {"manual_wait", "manual_answered"}:
            # printed once, above the live panel (which shows what is still pending); never
            # hard-wrapped, so a path stays one piece to copy
            self.console.print(manual_event_text(ev), highlight=False, soft_wrap=True)
        elif self._live is not None:
            self._live.refresh()
        elif kind == "run_start" and ev.get("budget_note"):
            self.console.print(
                f"budget: {ev['budget_note']}", highlight=False, markup=False, soft_wrap=True
            )
        elif kind in {"iteration_start", "candidate", "best", "final", "iteration_end"}:
            self.console.print(_plain_line(ev), highlight=False, markup=False)
        if kind == "run_stop" and ev.get("text"):
            self.console.print(f"stopped: {ev['text']}", highlight=False, markup=False)


def _num(x: Any) -> str:
    return "?" if not isinstance(x, (int, float)) else f"{x:.4g}"


# --------------------------------------------------------------------------- manual answers


def manual_event_text(ev: dict[str, Any], task: str | None = None) -> Text:
    """What a person answering prompts by hand must know: where the prompt is (the full path,
    on one line), what to do with it, and where the answer goes."""
    who = f"task {task}: " if task else ""
    n, role = ev.get("prompt"), ev.get("role", "")
    if ev.get("event") == "manual_answered":
        return Text.assemble(("manual ", "bold cyan"), f"{who}answer to prompt {n} ({role}) read")
    return Text.assemble(
        ("manual ", "bold cyan"),
        f"{who}prompt {n} ({role}) is waiting for your answer:\n",
        "  1. open ",
        (str(ev.get("prompt_path", "")), "bold"),
        "\n  2. paste everything below its `---` line into a chat window (a new chat for each prompt)\n",
        "  3. save the model's whole answer, unedited, as\n     ",
        (str(ev.get("answer_path", "")), "bold"),
        "\n  the run continues by itself once the file is there",
    )


def manual_pending_text(pending: list[dict[str, Any]], task_of: Any = None) -> Text:
    """The live view's list of prompts still waiting for an answer file."""
    lines = Text.assemble(
        ("waiting for you", "bold cyan"),
        f" (--model manual): {len(pending)} prompt{'' if len(pending) == 1 else 's'} to answer; "
        "save each answer beside its prompt as answer_<n>.md",
    )
    for ev in sorted(pending, key=lambda e: (str(task_of(e)) if task_of else "", e["prompt"])):
        who = f"{task_of(ev)}: " if task_of else ""
        lines.append(f"\n  {who}prompt {ev['prompt']} ({ev.get('role', '')}) ")
        lines.append(str(ev.get("prompt_path", "")), style="bold")
    lines.overflow = "fold"
    return lines


def steps_text(steps: int, total: int) -> str:
    """`512/4,096`; past the budget (an algorithm trains in whole rollouts or updates, so it
    can end beyond it) the true count and the budget: `8,192 (budget 2,048)`."""
    if not total:
        return f"{steps:,}" if steps else ""
    if steps > total:
        return f"{steps:,} (budget {total:,})"
    return f"{steps:,}/{total:,}"


def seeds_text(mean: float, std: float | None, n: int) -> str:
    """`0.8956 over 1 seed`, `0.81 ± 0.05 over 3 seeds`: no spread for a single value."""
    if n <= 1:
        return f"{mean:.4g} over {n} seed"
    return f"{mean:.4g} ± {std or 0.0:.3g} over {n} seeds"


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


def evaluation_kind(run: Any, records: list[Any]) -> str:
    """'deterministic evaluation', or 'evaluation with sampled actions' when the schema says
    so (Crafter's `deterministic_eval: false`), from a candidate's job file; only a caption."""
    from autoreward.store.atomic import read_json

    for rec in records:
        job = read_json(run.cand_dir(rec.iteration, rec.index) / "job.json") or {}
        train = (job.get("schema_data") or {}).get("train") or {}
        if "deterministic_eval" in train:
            return (
                "deterministic evaluation"
                if train["deterministic_eval"]
                else "evaluation with sampled actions"
            )
    return "deterministic evaluation"


def print_run_summary(console: Console, run_dir: str, result: Any) -> None:
    """The closing table of `autoreward run`: every candidate, the best with its spread over
    the final seeds, the texts replayed by position, cost."""
    from autoreward.report.notes import best_fitness_text, final_text, replay_marks
    from autoreward.store.rundir import RunDir

    run = RunDir(run_dir)
    records = run.candidate_records()
    seeds = max((len(rec.seed_fitness) for rec in records), default=1)
    each = "one training seed each" if seeds <= 1 else f"the mean of {seeds} training seeds each"
    table = Table(
        title="candidates",
        caption=f"fitness: {each}, {evaluation_kind(run, records)} (pruned: at the halving rung)",
        expand=False,
    )
    for col in ("iter", "cand", "status", "fitness", "env return", "steps", "note"):
        table.add_column(
            col,
            justify="right"
            if col in {"iter", "cand", "fitness", "env return", "steps"}
            else "left",
            overflow="fold",  # a narrow terminal wraps a cell; it never cuts it to "…"
        )
    best = getattr(result, "best", None)
    for rec in records:
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
                    f"{final_text(e) or 'no successful seed'} (screening "
                    f"{_num(e.get('screening_fitness'))})",
                    highlight=False,
                )
            console.print(f"  chosen by: {(final or {}).get('rule', '')}", highlight=False)
        console.print(f"best reward: [bold]{run.best_dir / 'reward.py'}[/]")
    if getattr(result, "budget_note", ""):
        console.print(f"budget: {result.budget_note}", highlight=False, soft_wrap=True)
    replayed = getattr(result, "replayed", None)
    if replayed is not None:
        by_position = replayed["position"]
        why = " (same templates and task, other training numbers)" if by_position else ""
        console.print(
            f"replay: {replayed['exact']} answers for identical prompts, "
            f"{by_position} by position{why}",
            highlight=False,
        )
    marks = replay_marks(run.path).summary()
    if marks:
        console.print(f"[yellow]note[/]: {marks}", highlight=False)
    console.print(
        f"LLM: {getattr(result, 'tokens', 0):,} tokens, ${getattr(result, 'cost', 0.0):.4f}; "
        f"wall time {getattr(result, 'wall_s', 0.0):,.0f}s; run directory {run.path}"
    )
