"""`autoreward refine RUN_DIR`: a person steers the iterations (the display is `refine_view.py`).

Each turn shows the best reward so far (code, component statistics as sparklines over the
training checkpoints, fitness, video, the analyzer's summary) and the last iteration's
candidates, asks for free-text feedback and, optionally, a ranking of those candidates by
their videos and numbers, saves both to `iter_<i>/feedback.json` (and appends the turn to
`refine.jsonl`), then runs the next iteration exactly as `autoreward run --resume DIR
--iterations i+2` would: the loop reads `feedback.json` into the designer's prompt.

`--feedback` / `--rank` make one turn without asking anything (for scripts).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.text import Text

from autoreward.errors import ConfigError
from autoreward.loop.evidence import stats_text
from autoreward.loop.refine_view import show_state, sparkline
from autoreward.report.data import CandidateView, IterationView, RunView, load_run
from autoreward.store.atomic import append_jsonl, atomic_write_json
from autoreward.store.rundir import RunDir

__all__ = [
    "FeedbackTurn",
    "HumanEdit",
    "parse_ranking",
    "refine_session",
    "show_state",
    "sparkline",
]

QUIT_WORDS = {"q", "quit", "exit"}
RANKABLE = {"trained", "pruned"}
"""Candidates with a trained policy (and so a video and numbers to judge)."""

Ask = Callable[[str], str]
RunNext = Callable[[Path, int], None]
Analyze = Callable[[Path, int], bool]


class HumanEdit(BaseModel):
    """A reward the person edited by hand: the next iteration checks, dry-runs, reviews and
    trains it as one more candidate, exactly like the designer's."""

    candidate: int = Field(description="The candidate of the ranked iteration it was edited from.")
    code: str = Field(min_length=1, description="The whole reward module.")


class FeedbackTurn(BaseModel):
    """One turn of a refine session: `iter_<iteration>/feedback.json` and a line of refine.jsonl.

    `autoreward refine` and `autoreward studio` both write it; the loop reads `text`,
    `ranking_text` and `edits` from the newest one."""

    iteration: int = Field(description="The iteration the feedback is about.")
    text: str | None = Field(default=None, description="Free-text feedback for the designer.")
    ranking: list[int] = Field(default_factory=list, description="Candidate indices, best first.")
    ranks: list[int] = Field(
        default_factory=list,
        description="Each ranked candidate's place (1 = best; tied candidates share it); "
        "empty: the places are 1, 2, 3, ... in ranking order.",
    )
    preferred: int | None = Field(
        default=None, description="The candidate the person marked as preferred."
    )
    notes: dict[int, str] = Field(
        default_factory=dict, description="The person's words on single candidates."
    )
    edits: list[HumanEdit] = Field(
        default_factory=list, description="Rewards edited by hand, trained next iteration."
    )
    ranking_text: str | None = Field(
        default=None, description="The ranking as the designer reads it."
    )
    source: str = Field(default="refine", description="refine (terminal) or studio (web page).")
    turn: int = 0
    t: float = Field(default_factory=time.time)

    @property
    def empty(self) -> bool:
        return not self.text and not self.ranking and not self.notes and not self.edits


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
    analyze: Analyze | None = None,
    model: str | None = None,
    api_base: str | None = None,
) -> list[FeedbackTurn]:
    """Turns of show → ask → save → run the next iteration, until the person stops.

    `ask` reads one answer (default: the console's input, so stdin); `run_next(run_dir,
    iterations)` continues the run up to that many iterations (default: the `run --resume`
    path, with `model` / `api_base` for the next iterations when given; it is checked before
    anything is asked, so a run that cannot continue costs the person no typing). Feedback
    saved by a turn whose iteration then failed is used again, not asked for again.
    `analyze(run_dir, iteration)` writes an iteration's analysis when the loop deferred it (the
    loop makes no analyzer call after a run's last iteration; here a person reads it, and the
    next iteration's designer then reads the same file). Default: the run's own model, or
    `model` when given.
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
    if rank is not None:  # a typo in --rank is reported first: it is the cheapest to fix
        parse_ranking(rank, last_finished(load_run(run.path)))
    if run_next is None:
        check_can_continue(run, model, api_base)
        run_next = _resume_run(console, model, api_base)
    analyze = analyze or _deferred_analysis(console, model, api_base)
    turns: list[FeedbackTurn] = []
    while max_turns is None or len(turns) < max_turns:
        view = load_run(run.path)
        it = last_finished(view)
        if it.analysis is None and analyze(run.path, it.index):
            view = load_run(run.path)
            it = last_finished(view)
        show_state(console, view, it)
        saved = None if scripted else _saved_turn(run, it)
        if saved is not None:
            turn = saved
            console.print(
                f"[bold]using the feedback you gave before[/] (saved in "
                f"{run.iter_dir(it.index) / 'feedback.json'}; the iteration it was for did not run): "
                + (f"«{turn.text}»" if turn.text else "no text")
                + (f", ranking {','.join(map(str, turn.ranking))}" if turn.ranking else "")
                + "\n  to replace it, pass --feedback TEXT (and --rank), or delete that file",
                highlight=False,
                markup=True,
            )
        else:
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


def _saved_turn(run: RunDir, it: IterationView) -> FeedbackTurn | None:
    """Feedback on iteration `it` saved by an earlier session whose next iteration never
    finished (e.g. the model failed): the loop has not used it yet."""
    from autoreward.store.atomic import read_json

    data = read_json(run.iter_dir(it.index) / "feedback.json")
    if data is None or (run.iter_dir(it.index + 1) / "done.json").exists():
        return None
    try:
        return FeedbackTurn.model_validate(data)
    except ValueError:
        return None


def check_can_continue(run: RunDir, model: str | None, api_base: str | None) -> None:
    """Fail before asking anything when the next iteration cannot run: the config and the
    model (a missing key, a replay transcript that is gone or holds no answers for it)."""
    from autoreward.llm.client import REPLAY_PREFIX
    from autoreward.llm.transcript import read_transcript
    from autoreward.loop.commands import build_config, preflight

    options = {"model": model, "api_base": api_base}
    given = {k for k, v in options.items() if v is not None}
    cfg, _ = build_config(options, given, run.path)
    preflight(cfg)
    if not cfg.model.startswith(REPLAY_PREFIX):
        return
    path = Path(cfg.model[len(REPLAY_PREFIX) :])
    upcoming = last_finished(load_run(run.path)).index + 1
    recorded = {
        e.site.iteration
        for e in read_transcript(path)
        if e.role == "designer" and e.site is not None and e.site.iteration is not None
    }
    if upcoming not in recorded:
        raise ConfigError(
            f"{run.path} replays its answers from {path}, which holds no designer answers for "
            f"iteration {upcoming}: a recording cannot answer prompts carrying new feedback",
            hint="continue with a model that writes new answers: --model gpt-4o-mini (any "
            "litellm model) or --model manual",
        )


def last_finished(view: RunView) -> IterationView:
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


def _deferred_analysis(console: Console, model: str | None, api_base: str | None) -> Analyze:
    def analyze(run_dir: Path, iteration: int) -> bool:
        from autoreward.loop.analysis import is_deferred, write_deferred_analysis

        if not is_deferred(RunDir(run_dir), iteration):
            return False
        console.print(f"[bold]analyzing iteration {iteration}[/] (the run skipped it as its last)")
        return write_deferred_analysis(run_dir, iteration, model=model, api_base=api_base)

    return analyze


def _resume_run(console: Console, model: str | None, api_base: str | None) -> RunNext:
    def run_next(run_dir: Path, iterations: int) -> None:
        from autoreward.loop.commands import run_command

        options: dict[str, Any] = {"iterations": iterations, "model": model, "api_base": api_base}
        run_command(
            console,
            options,
            given={k for k, v in options.items() if v is not None},
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
    view: RunView,
    it: IterationView,
    text: str | None,
    ranking: list[int],
    *,
    ranks: list[int] | None = None,
    preferred: int | None = None,
    notes: dict[int, str] | None = None,
    edits: list[HumanEdit] | None = None,
    source: str = "refine",
) -> FeedbackTurn:
    """A turn checked against iteration `it`: ranks parallel to the ranking and never
    decreasing, the preferred and annotated candidates present, the designer's text built."""
    ranks = list(ranks or [])
    notes = {j: n.strip() for j, n in (notes or {}).items() if n and n.strip()}
    known = {c.index for c in it.candidates}
    if ranks and (len(ranks) != len(ranking) or ranks[0] != 1 or ranks != sorted(ranks)):
        raise ConfigError(
            f"expected one place per ranked candidate, starting at 1 and never decreasing, "
            f"got places {ranks} for ranking {ranking}",
            hint="tied candidates share a place, e.g. ranking 2,0,1 with places 1,1,3",
        )
    if preferred is not None and preferred not in rankable_indices(it):
        raise ConfigError(
            f"candidate {preferred} of iteration {it.index} cannot be preferred: it has no "
            "trained policy",
            hint=f"prefer one of {', '.join(map(str, rankable_indices(it))) or '(none)'}",
        )
    for j in [*notes, *(e.candidate for e in edits or [])]:
        if j not in known:
            raise ConfigError(
                f"iteration {it.index} has no candidate {j}",
                hint=f"its candidates are {', '.join(map(str, sorted(known)))}",
            )
    ranked = bool(ranking) or preferred is not None or bool(notes)
    return FeedbackTurn(
        iteration=it.index,
        text=(text or "").strip() or None,
        ranking=ranking,
        ranks=ranks,
        preferred=preferred,
        notes=notes,
        edits=list(edits or []),
        ranking_text=ranking_prompt(
            view, it, ranking, ranks=ranks, preferred=preferred, notes=notes
        )
        if ranked
        else None,
        source=source,
    )


def ranking_prompt(
    view: RunView,
    it: IterationView,
    ranking: list[int],
    *,
    ranks: list[int] | None = None,
    preferred: int | None = None,
    notes: dict[int, str] | None = None,
) -> str:
    """The ranking as the designer reads it (`prompts/human_ranking_v*.md`): as ICPL does,
    the preferred and the least preferred candidates' code and component statistics, and
    the person's words."""
    from autoreward.agents.prompts import render

    by_index = {c.index: c for c in it.candidates}
    places = ranks or list(range(1, len(ranking) + 1))
    ranked = "\n".join(
        f"{k}. {_describe(by_index[j])}" + (" (tied)" if places.count(k) > 1 else "")
        for k, j in zip(places, ranking, strict=True)
    )
    unranked = [f"candidate {j}" for j in rankable_indices(it) if j not in ranking]
    first_index = preferred if preferred is not None else (ranking[0] if ranking else None)
    first = by_index.get(first_index) if first_index is not None else None
    best = view.best
    differs = first is not None and (
        best is None or (best.iteration, best.index) != (first.iteration, first.index)
    )
    last_index = ranking[-1] if len(ranking) >= 2 else None
    least = by_index.get(last_index) if last_index is not None else None
    if least is not None and (first is None or least.index == first.index):
        least = None
    return render(
        "human_ranking",
        iteration=it.index,
        ranked=ranked or "(no ranking given)",
        unranked=", ".join(unranked) or None,
        favourite=f"candidate {first.index}" if first and differs and first.code else None,
        favourite_code=first.code.strip() if first and differs and first.code else None,
        favourite_stats=stats_text(first.folder) if first and differs else None,
        least=f"candidate {least.index}" if least is not None else None,
        least_code=least.code.strip() if least is not None and least.code else None,
        least_stats=stats_text(least.folder) if least is not None else None,
        notes="\n".join(f"- candidate {j}: {n}" for j, n in sorted((notes or {}).items())) or None,
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
