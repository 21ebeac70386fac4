"""The studio's pages: the run list, and a run with its iterations' candidates side by side.

Candidates are rendered by the report's own `_candidate.html` macro from the report's own
context (`report.candidates.candidate_context`), so the report and the studio show the same
thing; the studio links videos by file id instead of embedding them, and adds its controls.
Every text from a run is escaped by Jinja's autoescape or by the report's fragments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from autoreward.loop.refine import rankable_indices
from autoreward.report.candidates import candidate_context, deferred_analysis
from autoreward.report.data import CandidateView, IterationView, RunView
from autoreward.report.fragments import diff_block, fmt, markdown, pygments_css
from autoreward.report.notes import REPLAY_NOTE, best_fitness_text, final_for
from autoreward.report.pages import page_env
from autoreward.studio.catalog import FileIds, RunEntry

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> Environment:
    """The report's Jinja environment with the studio's templates searched first."""
    return page_env(TEMPLATES)


def index_context(runs: list[RunEntry], root: Path) -> dict[str, Any]:
    return {
        "title": "autoreward studio",
        "root": str(root),
        "runs": [
            {
                "id": r.id,
                "env_id": r.env_id,
                "task": r.task,
                "batch": r.batch,
                "status": r.status,
                "iterations": r.iterations,
                "best": fmt(r.best_fitness) if r.best_fitness is not None else "–",
            }
            for r in runs
        ],
    }


class _VideoLink:
    """The report's `embed(path)` for the studio: a <video> whose source is a file id."""

    def __init__(self, files: FileIds, run_dir: Path) -> None:
        self.files, self.run_dir = files, run_dir

    def __call__(self, path: Path) -> Markup:
        file_id = self.files.register(self.run_dir, path)
        return Markup(
            '<video class="video" controls muted loop preload="auto" src="/files/{}"></video>'
        ).format(file_id)


def run_context(
    entry: RunEntry,
    run: RunView,
    cache: CandidateCache,
    token: str,
    job: dict[str, Any] | None,
    events_offset: int,
) -> dict[str, Any]:
    finished = [it for it in run.iterations if it.done]
    last = finished[-1] if finished else None
    return {
        "title": f"autoreward studio · {run.env_id}",
        "run_id": entry.id,
        "env_id": run.env_id,
        "task": run.task,
        "token": token,
        "summary": summary(run),
        "cost": cost(run),
        "iterations": [iteration_context(run, it, cache, last) for it in run.iterations],
        "last_finished": None if last is None else last.index,
        "job": job,
        "events_offset": events_offset,
        "choices": [
            {
                "value": f"{c.iteration}.{c.index}",
                "label": f"iteration {c.iteration}, candidate {c.index}",
            }
            for it in run.iterations
            for c in it.candidates
            if c.code
        ],
        "pygments_css": Markup(pygments_css()),
        "problems": run.problems,
    }


class CandidateCache:
    """Candidate contexts (their plots take a while to draw) until a file of the candidate
    changes or what it is compared with does."""

    def __init__(self, files: FileIds) -> None:
        self.files = files
        self._cache: dict[Path, tuple[Any, dict[str, Any]]] = {}

    def context(
        self, run: RunView, c: CandidateView, it: IterationView, best: CandidateView | None
    ) -> dict[str, Any]:
        prev = it.previous_best
        key = (
            _stamp(c.folder),
            None if best is None else best.index,
            None if prev is None else (prev.iteration, prev.index),
            run.replays.summary(),
        )
        hit = self._cache.get(c.folder)
        if hit is not None and hit[0] == key:
            return dict(hit[1])
        ctx = candidate_context(run, c, it, best, _VideoLink(self.files, run.path))
        self._cache[c.folder] = (key, ctx)
        return dict(ctx)


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        return tuple(
            sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(folder))
        )
    except OSError:
        return ()


def iteration_context(
    run: RunView, it: IterationView, cache: CandidateCache, last: IterationView | None
) -> dict[str, Any]:
    best = it.best
    steer = last is not None and it.index == last.index
    rankable = set(rankable_indices(it))
    candidates = []
    for c in it.candidates:
        ctx = cache.context(run, c, it, best)
        ctx["rankable"] = steer and c.index in rankable
        ctx["editable"] = steer and c.code is not None
        ctx["source"] = c.code or ""
        ctx["origin"] = _origin(c)
        ctx["folded"] = True  # side by side, the best's code stays folded like the others
        candidates.append(ctx)
    feedback = it.feedback or {}
    return {
        "index": it.index,
        "anchor": it.anchor,
        "done": it.done,
        "steer": steer,
        "candidates": candidates,
        "analysis": markdown(it.analysis) if it.analysis else None,
        "analysis_replayed": REPLAY_NOTE if run.replays.analysis(it.index) else None,
        "analysis_deferred": deferred_analysis(it),
        "feedback": {
            "text": feedback.get("text") or "",
            "ranking": feedback.get("ranking_text") or "",
            "source": feedback.get("source") or "refine",
        }
        if feedback
        else None,
        "previous_best": it.previous_best,
    }


def _origin(c: CandidateView) -> str | None:
    """ "human edit of iteration i candidate j" for a reward the person edited by hand (the
    loop notes it in check.json)."""
    origin = (c.check or {}).get("origin")
    return str(origin) if origin else None


def summary(run: RunView) -> list[tuple[str, str]]:
    rows = [("environment", run.env_id), ("model", str(run.config.get("model") or "?"))]
    if run.best is not None:
        b = run.best
        text = best_fitness_text(b.fitness, final_for(run.final, b.iteration, b.index))
        rows.append(("best fitness", f"{text} (iteration {b.iteration}, candidate {b.index})"))
    else:
        rows.append(("best fitness", "no candidate trained successfully yet"))
    done = sum(it.done for it in run.iterations)
    rows.append(("iterations", f"{done} finished of {len(run.iterations)} started"))
    return rows


def cost(run: RunView) -> dict[str, Any]:
    """The run's cost so far: LLM tokens and money, and the CPU time of training."""
    cpu = 0.0
    wall = 0.0
    for it in run.iterations:
        for c in it.candidates:
            t = c.train or {}
            cpu += _number(t.get("learn_cpu_s"))
            wall += _number(t.get("wall_s"))
    return {
        "tokens": run.llm_total.tokens,
        "money": run.llm_total.cost,
        "calls": run.llm_total.calls,
        "cached": run.llm_total.cached,
        "train_cpu_s": cpu,
        "train_wall_s": wall,
        "wall_s": run.wall_s,
    }


def diff_fragment(run: RunView, a: tuple[int, int], b: tuple[int, int]) -> Markup:
    first, second = run.candidate(*a), run.candidate(*b)
    missing = [
        f"iteration {i}, candidate {j}"
        for (i, j), c in ((a, first), (b, second))
        if c is None or c.code is None
    ]
    if missing or first is None or second is None or first.code is None or second.code is None:
        return Markup('<p class="note">No reward code for {}.</p>').format(", ".join(missing))
    block = diff_block(
        first.code, second.code, f"iter {a[0]} cand {a[1]}", f"iter {b[0]} cand {b[1]}"
    )
    if block is None:
        return Markup('<p class="note">The two rewards are identical.</p>')
    return block


def _number(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
