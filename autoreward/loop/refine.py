"""`autoreward refine RUN_DIR`: a person steers the iterations.

Each turn shows the best reward so far (code, component statistics as sparklines over the
training checkpoints, fitness, video, the analyzer's summary) and the last iteration's
candidates, asks for free-text feedback and, optionally, a ranking of those candidates by
their videos and numbers, saves both to `iter_<i>/feedback.json` (and appends the turn to
`refine.jsonl`), then runs the next iteration exactly as `autoreward run --resume DIR
--iterations i+2` would: the loop reads `feedback.json` into the designer's prompt.

`--feedback` / `--rank` make one turn without asking anything (for scripts).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from autoreward.errors import ConfigError
from autoreward.report.data import CandidateView, IterationView, RunView, finite_float, load_run
from autoreward.store.atomic import append_jsonl, atomic_write_json
from autoreward.store.rundir import RunDir

QUIT_WORDS = {"q", "quit", "exit"}
RANKABLE = {"trained", "pruned"}
"""Candidates with a trained policy (and so a video and numbers to judge)."""
SPARK = "▁▂▃▄▅▆▇█"
ANALYSIS_LINES = 24

Ask = Callable[[str], str]
RunNext = Callable[[Path, int], None]


class FeedbackTurn(BaseModel):
    """One turn of a refine session: `iter_<iteration>/feedback.json` and a line of refine.jsonl."""

    iteration: int = Field(description="The iteration the feedback is about.")
    text: str | None = Field(default=None, description="Free-text feedback for the designer.")
    ranking: list[int] = Field(default_factory=list, description="Candidate indices, best first.")
    ranking_text: str | None = Field(
        default=None, description="The ranking as the designer reads it."
    )
    turn: int = 0
    t: float = Field(default_factory=time.time)

    @property
    def empty(self) -> bool:
        return not self.text and not self.ranking


class _Quit(Exception):
    """The person typed q / quit, or stdin ended."""


# =========================================================================== the session


def refine_session(
    console: Console,
    run_dir: str | Path,
    *,
    feedback: str | None = None,
    rank: str | None = None,
    iterations_per_turn: int = 1,
    max_turns: int | None = None,
    ask: Ask | None = None,
    run_next: RunNext | None = None,
) -> list[FeedbackTurn]:
    """Turns of show → ask → save → run the next iteration, until the person stops.

    `ask` reads one answer (default: the console's input, so stdin); `run_next(run_dir,
    iterations)` continues the run up to that many iterations (default: the `run --resume` path).
    """
    if iterations_per_turn < 1:
        raise ConfigError(f"--iterations-per-turn must be at least 1, got {iterations_per_turn}")
    if max_turns is not None and max_turns < 1:
        raise ConfigError(f"--max-turns must be at least 1, got {max_turns}")
    run = RunDir.open(run_dir)
    scripted = feedback is not None or rank is not None
    if scripted:
        max_turns = 1
    ask = ask or _console_ask(console)
    run_next = run_next or _resume_run(console)
    turns: list[FeedbackTurn] = []
    while max_turns is None or len(turns) < max_turns:
        view = load_run(run.path)
        it = _last_finished(view)
        show_state(console, view, it)
        try:
            turn = (
                _scripted_turn(view, it, feedback, rank)
                if scripted
                else _ask_turn(console, view, it, ask)
            )
        except _Quit:
            console.print("[bold]refine session ended.[/]")
            break
        turn.turn = len(turns) + 1
        save_turn(run, turn)
        turns.append(turn)
        target = it.index + 1 + iterations_per_turn
        console.print(
            f"[bold]running iteration {it.index + 1}"
            + (f"–{target - 1}" if iterations_per_turn > 1 else "")
            + ("[/] with your feedback" if not turn.empty else "[/] (no feedback given)")
        )
        run_next(run.path, target)
        if not (run.iter_dir(it.index + 1) / "done.json").exists():
            console.print(
                f"[yellow]the loop ran no new iteration[/] (see {run.events_path}); "
                "it stops once the target fitness is reached"
            )
            break
    else:
        if not scripted:
            console.print(
                f"[bold]refine session ended[/] after {len(turns)} turn(s) (--max-turns)."
            )
    return turns


def _last_finished(view: RunView) -> IterationView:
    finished = [it for it in view.iterations if it.done]
    if not finished:
        raise ConfigError(
            f"{view.path} has no finished iteration to give feedback on",
            hint=f"let it finish first: autoreward run --resume {view.path}",
        )
    last = finished[-1]
    unfinished = [it.index for it in view.iterations if not it.done and it.index > last.index]
    if unfinished:
        raise ConfigError(
            f"iteration {unfinished[0]} of {view.path} was started but never finished",
            hint=f"finish it first: autoreward run --resume {view.path}",
        )
    return last


def _scripted_turn(
    view: RunView, it: IterationView, feedback: str | None, rank: str | None
) -> FeedbackTurn:
    ranking = parse_ranking(rank, it) if rank else []
    return make_turn(view, it, feedback, ranking)


def _ask_turn(console: Console, view: RunView, it: IterationView, ask: Ask) -> FeedbackTurn:
    text = _read(ask, "Feedback for the designer (Enter = none, q = quit): ")
    rankable = rankable_indices(it)
    ranking: list[int] = []
    if len(rankable) >= 2:
        example = ",".join(str(j) for j in reversed(rankable))
        while True:
            answer = _read(
                ask,
                f"Rank iteration {it.index}'s candidates best first, e.g. {example} (Enter = skip): ",
            )
            if not answer:
                break
            try:
                ranking = parse_ranking(answer, it)
                break
            except ConfigError as err:
                console.print(
                    Text(err.message + (f"\n  {err.hint}" if err.hint else ""), style="red")
                )
    return make_turn(view, it, text or None, ranking)


def _read(ask: Ask, prompt: str) -> str:
    try:
        answer = ask(prompt)
    except (EOFError, KeyboardInterrupt):
        raise _Quit from None
    answer = answer.strip()
    if answer.lower() in QUIT_WORDS:
        raise _Quit
    return answer


def _console_ask(console: Console) -> Ask:
    return lambda prompt: console.input(prompt)


def _resume_run(console: Console) -> RunNext:
    def run_next(run_dir: Path, iterations: int) -> None:
        from autoreward.loop.commands import run_command

        run_command(
            console,
            {"iterations": iterations},
            given={"iterations"},
            out=run_dir.parent,
            resume=run_dir,
            report=True,
        )

    return run_next


# =========================================================================== feedback


def rankable_indices(it: IterationView) -> list[int]:
    return [c.index for c in it.candidates if c.status in RANKABLE]


def parse_ranking(text: str, it: IterationView) -> list[int]:
    """'2,0,1' (or '2 0 1', '2>0>1') → [2, 0, 1], checked against the iteration's candidates."""
    rankable = rankable_indices(it)
    choices = ", ".join(str(j) for j in rankable) or "(none)"
    hint = f"rank among iteration {it.index}'s trained candidates: {choices}"
    parts = [p for p in re.split(r"[\s,;>]+", text.strip()) if p]
    if not parts:
        raise ConfigError("the ranking is empty", hint=hint)
    ranking: list[int] = []
    status = {c.index: c.status for c in it.candidates}
    for part in parts:
        if not part.isdigit():
            raise ConfigError(f"'{part}' in the ranking is not a candidate number", hint=hint)
        j = int(part)
        if j not in status:
            raise ConfigError(f"iteration {it.index} has no candidate {j}", hint=hint)
        if j not in rankable:
            raise ConfigError(
                f"candidate {j} of iteration {it.index} has no trained policy ({status[j].replace('_', ' ')})",
                hint=hint,
            )
        if j in ranking:
            raise ConfigError(f"candidate {j} appears twice in the ranking", hint=hint)
        ranking.append(j)
    return ranking


def make_turn(
    view: RunView, it: IterationView, text: str | None, ranking: list[int]
) -> FeedbackTurn:
    return FeedbackTurn(
        iteration=it.index,
        text=(text or "").strip() or None,
        ranking=ranking,
        ranking_text=ranking_prompt(view, it, ranking) if ranking else None,
    )


def ranking_prompt(view: RunView, it: IterationView, ranking: list[int]) -> str:
    """The ranking as the designer reads it (`prompts/human_ranking_v*.md`)."""
    from autoreward.agents.prompts import render

    by_index = {c.index: c for c in it.candidates}
    ranked = "\n".join(f"{k}. {_describe(by_index[j])}" for k, j in enumerate(ranking, 1))
    unranked = [f"candidate {j}" for j in rankable_indices(it) if j not in ranking]
    first = by_index[ranking[0]]
    best = view.best
    differs = best is None or (best.iteration, best.index) != (first.iteration, first.index)
    return render(
        "human_ranking",
        iteration=it.index,
        ranked=ranked,
        unranked=", ".join(unranked) or None,
        favourite=f"candidate {first.index}" if differs and first.code else None,
        favourite_code=first.code.strip() if differs and first.code else None,
    ).text


def _describe(c: CandidateView) -> str:
    parts = [f"candidate {c.index}"]
    numbers = []
    if c.fitness is not None:
        numbers.append(f"fitness {c.fitness:.4g}")
    if c.env_return is not None:
        numbers.append(f"env return {c.env_return:.4g}")
    if c.status != "trained":
        numbers.append(c.status)
    return parts[0] + (f" ({', '.join(numbers)})" if numbers else "")


def save_turn(run: RunDir, turn: FeedbackTurn) -> Path:
    """`iter_<i>/feedback.json` (what the loop reads) and one line of `refine.jsonl` (history)."""
    path = run.iter_dir(turn.iteration) / "feedback.json"
    data = turn.model_dump(mode="json")
    atomic_write_json(path, data)
    append_jsonl(run.path / "refine.jsonl", data)
    run.event(
        "feedback",
        iteration=turn.iteration,
        turn=turn.turn,
        has_text=bool(turn.text),
        ranking=turn.ranking,
    )
    return path


# =========================================================================== display


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
    console.rule(f"[bold]{view.env_id}[/] · {view.task}")
    if best is None:
        console.print(
            "[red]no candidate has trained successfully yet[/]; feedback still reaches the designer"
        )
    else:
        console.print(_best_panel(view, best))
        stats = statistics_table(best)
        if stats is not None:
            console.print(stats)
    if it.analysis:
        console.print(_analysis_panel(it))
    console.print(candidates_table(it, best, view.path))


def _best_panel(view: RunView, best: CandidateView) -> Panel:
    head = Text.assemble(
        ("fitness ", "bold"),
        f"{_fmt(best.fitness)}  ",
        ("env return ", "bold"),
        f"{_fmt(best.env_return)}  ",
        ("steps ", "bold"),
        f"{best.steps:,}",
    )
    lines: list[Any] = [head]
    final = view.final or {}
    if final.get("mean") is not None:
        n = final.get("n_seeds", "?")
        lines.append(
            Text(
                f"final seeds: {_fmt(final['mean'])} ± {_fmt(final.get('std'))} over {n} seed{'' if n == 1 else 's'}"
            )
        )
    lines.append(
        Text(
            f"video: {best.video}" if best.video else "video: none recorded",
            style="dim" if not best.video else "",
        )
    )
    if best.hacking:
        lines.append(Text(f"suspected reward hacking: {best.hacking}", style="yellow"))
    if best.code:
        lines.append(
            Syntax(best.code, "python", line_numbers=False, word_wrap=True, theme="ansi_dark")
        )
    title = f"best reward so far: iteration {best.iteration}, candidate {best.index}"
    return Panel(Group(*lines), title=title, title_align="left")


def statistics_table(c: CandidateView) -> Table | None:
    """Fitness, returns and each reward component per training checkpoint, as sparklines."""
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
        f", steps {steps[0]:,}…{steps[-1]:,}" if steps and None not in (steps[0], steps[-1]) else ""
    )
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


def _analysis_panel(it: IterationView) -> Panel:
    text = (it.analysis or "").strip()
    lines = text.splitlines()
    if len(lines) > ANALYSIS_LINES:
        text = "\n".join(lines[:ANALYSIS_LINES]) + f"\n\n… (full text: {it.folder / 'analysis.md'})"
    return Panel(Markdown(text), title=f"analyzer, iteration {it.index}", title_align="left")


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
