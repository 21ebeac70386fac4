"""Build `report.html` for a run directory or a batch directory.

The page is self-contained: plots are PNG data URIs, small videos are embedded, CSS is inline,
and nothing is fetched from the network. Stable hooks for tools and tests:
`id="summary"`, `section.iteration`, `article.candidate`, `.diff`, `.curve`, `.analysis`,
`id="llm-cost"`; in a batch report `id="results"`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from autoreward.errors import ConfigError
from autoreward.report import plots
from autoreward.report.batchdata import BatchView, is_batch_dir, is_run_dir, load_batch
from autoreward.report.candidates import candidate_context, deferred_analysis
from autoreward.report.data import CandidateView, IterationView, RunView, finite_float, load_run
from autoreward.report.fragments import (
    VideoEmbedder,
    code_block,
    markdown,
    pygments_css,
)
from autoreward.report.fragments import (
    clip as _clip,
)
from autoreward.report.fragments import (
    fmt as _fmt,
)
from autoreward.report.notes import REPLAY_NOTE, best_fitness_text, final_for, final_text
from autoreward.report.pages import REPORT_NAME, now_text, page_env
from autoreward.report.train_report import is_train_dir, write_train_report
from autoreward.report.tuning import load_tuning
from autoreward.store.atomic import atomic_write_text

ACCEPTED = (
    "a run directory (runs/<timestamp>-<env>-<task>/, holding config.yaml), a batch directory "
    "(runs/batch-<timestamp>-<suite>/, holding results.csv or tasks/) or the output folder of "
    "`autoreward train` (runs/train-<timestamp>-<env>/, holding train.yaml)"
)


def write_report(path: str | Path) -> Path:
    """`autoreward report PATH`: a run directory, a batch directory or a train folder."""
    folder = Path(path)
    if not folder.exists():
        raise ConfigError(f"{folder} does not exist", hint=f"pass {ACCEPTED}")
    if not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a directory", hint=f"pass {ACCEPTED}")
    if is_run_dir(folder):
        return write_run_report(folder)
    if is_batch_dir(folder):
        return write_batch_report(folder)
    if is_train_dir(folder):
        return write_train_report(folder)
    raise ConfigError(f"{folder} is not a folder autoreward wrote", hint=f"pass {ACCEPTED}")


def write_run_report(run_dir: str | Path) -> Path:
    """Write `<run_dir>/report.html` and return its path."""
    run = load_run(run_dir)
    out = run.path / REPORT_NAME
    page = page_env().get_template("run.html").render(**_run_context(run, VideoEmbedder(run.path)))
    atomic_write_text(out, page)
    return out


def write_batch_report(batch_dir: str | Path) -> Path:
    """Write `<batch_dir>/report.html` (the results table, linking each task's own report,
    which is written too) and return its path."""
    batch = load_batch(batch_dir)
    for task in batch.tasks:
        if task.run_dir is not None:
            try:
                task.report = write_run_report(task.run_dir)
            except Exception as err:  # one broken task must not cost the batch its report
                batch.problems.append(
                    f"report of task {task.name} failed: {type(err).__name__}: {err}"
                )
    out = batch.path / REPORT_NAME
    page = page_env().get_template("batch.html").render(**_batch_context(batch))
    atomic_write_text(out, page)
    return out


# =========================================================================== run context


@dataclass
class _Row:
    label: str
    value: Any


def _run_context(run: RunView, embed: VideoEmbedder) -> dict[str, Any]:
    llm_by_iter = {row.label: row for row in run.llm_rows}
    iterations = [
        _iteration(run, it, embed, llm_by_iter.get(f"iteration {it.index}"))
        for it in run.iterations
    ]
    return {
        "title": f"autoreward · {run.env_id}",
        "env_id": run.env_id,
        "task": run.task,
        "summary": _summary(run),
        "best": _best_block(run),
        "iterations": iterations,
        "tuning": load_tuning(run.path),
        "llm_rows": run.llm_rows,
        "llm_total": run.llm_total,
        "problems": run.problems,
        "generated": now_text(),
        "pygments_css": Markup(pygments_css()),
    }


def _summary(run: RunView) -> list[_Row]:
    cfg = run.config
    rows = [_Row("environment", run.env_id), _Row("task", run.task)]
    models = cfg.get("model") or "?"
    used = [m for m in run.models_used if not (m == models or models.endswith("/" + m))]
    rows.append(_Row("model", models + (f" (answers from {', '.join(used)})" if used else "")))
    if run.best is not None:
        b = run.best
        rows.append(
            _Row(
                "best fitness",
                Markup(
                    f"<strong>{html.escape(best_fitness_text(b.fitness, final_for(run.final, b.iteration, b.index)))}</strong> — "
                    f'<a href="#{b.anchor}">iteration {b.iteration}, candidate {b.index}</a> ({b.steps:,} steps)'
                ),
            )
        )
    else:
        rows.append(_Row("best fitness", "no candidate trained successfully"))
    rows.append(_Row("final seeds", _final_text(run.final, run.config, run.best)))
    replayed = run.replays.summary()
    if replayed:
        rows.append(
            _Row("replayed texts", Markup(f'<span class="warn">{html.escape(replayed)}</span>'))
        )
    done = sum(it.done for it in run.iterations)
    rows.append(
        _Row(
            "iterations",
            f"{done} finished of {len(run.iterations)} started ({cfg.get('iterations', '?')} configured)",
        )
    )
    cands = [c for it in run.iterations for c in it.candidates]
    trained = sum(c.status == "trained" for c in cands)
    rows.append(
        _Row(
            "candidates",
            f"{trained} trained of {len(cands)} ({cfg.get('samples', '?')} per iteration)",
        )
    )
    training = [str(cfg["algo"])] if cfg.get("algo") else []
    if cfg.get("steps"):
        training.append(f"{int(cfg['steps']):,} steps per candidate")
    if training:
        rows.append(_Row("training", " · ".join(training)))
    t = run.llm_total
    rows.append(
        _Row(
            "LLM tokens and cost",
            f"{t.tokens:,} tokens, ${t.cost:.4f} ({t.calls} calls, {t.cached} from cache)",
        )
    )
    rows.append(_Row("wall time", _duration(run.wall_s)))
    rows.append(_Row("run directory", str(run.path)))
    return rows


def _final_text(
    final: dict[str, Any] | None, cfg: dict[str, Any], best: CandidateView | None
) -> str:
    if not final:
        return (
            "not run"
            if cfg.get("final_seeds", 1) == 0
            else "not available (run unfinished or no best)"
        )
    if final.get("mean") is None:
        return str(final.get("reason") or "failed")
    text = final_text(final) or ""
    where = (final.get("iteration"), final.get("index"))
    if best is not None and None not in where and where != (best.iteration, best.index):
        text += f" (of iteration {where[0]}, candidate {where[1]}: an earlier best)"
    estimates = final.get("candidates") or []
    if len(estimates) > 1:
        parts = [
            f"iter {e.get('iteration')} cand {e.get('index')}: {final_text(e) or 'failed'} "
            f"(screening {_fmt(e.get('screening_fitness'))})"
            for e in estimates
        ]
        text += f"; chosen from {'; '.join(parts)} — rule: {final.get('rule', '')}"
    return text


def _best_block(run: RunView) -> dict[str, Any] | None:
    b = run.best
    if b is None or not b.code:
        return None
    return {
        "anchor": b.anchor,
        "label": f"iteration {b.iteration}, candidate {b.index}",
        "code": code_block(b.code),
    }


def _iteration(run: RunView, it: IterationView, embed: VideoEmbedder, llm: Any) -> dict[str, Any]:
    best = it.best
    feedback = None
    if it.feedback:
        feedback = {
            "text": it.feedback.get("text") or "",
            "ranking": it.feedback.get("ranking_text")
            or ", ".join(str(x) for x in it.feedback.get("ranking") or []),
        }
    return {
        "index": it.index,
        "anchor": it.anchor,
        "done": it.done,
        "rows": [_table_row(c, best) for c in it.candidates],
        "candidates": [candidate_context(run, c, it, best, embed) for c in it.candidates],
        "analysis": markdown(it.analysis) if it.analysis else None,
        "analysis_replayed": REPLAY_NOTE if run.replays.analysis(it.index) else None,
        "analysis_deferred": deferred_analysis(it),
        "feedback": feedback,
        "llm": llm,
        "previous_best": None if it.previous_best is None else it.previous_best,
    }


def _table_row(c: CandidateView, best: CandidateView | None) -> dict[str, Any]:
    return {
        "anchor": c.anchor,
        "index": c.index,
        "status": c.status,
        "best": best is not None and best.index == c.index,
        "fitness": _fmt(c.fitness),
        "env_return": _fmt(c.env_return),
        "steps": f"{c.steps:,}" if c.steps else "",
        "reason": _clip(c.reason, 160),
        "hacking": c.hacking,
    }


# =========================================================================== batch context


def _batch_context(batch: BatchView) -> dict[str, Any]:
    name_col = next(
        (c for c in batch.columns if c.lower() in {"task", "name"}),
        batch.columns[0] if batch.columns else None,
    )
    links = {t.name: t for t in batch.tasks}
    columns = [c for c in batch.columns if c not in _HIDDEN_BATCH_COLUMNS]
    rows = []
    for r in batch.rows:
        cells: list[tuple[str | Markup, bool]] = []  # (content, numeric)
        for col in columns:
            value = r.get(col, "")
            task = links.get(value) if col == name_col else None
            if task is not None and task.report is not None:
                href = html.escape(task.report.relative_to(batch.path).as_posix(), quote=True)
                cells.append((Markup(f'<a href="{href}">{html.escape(value)}</a>'), False))
            else:
                text = _cell(value)
                cells.append((text, text != value or finite_float(value) is not None))
        rows.append(cells)
    listed = {r.get(name_col or "", "") for r in batch.rows}
    extra = [t for t in batch.tasks if t.name not in listed]
    return {
        "title": f"autoreward batch · {batch.path.name}",
        "path": str(batch.path),
        "columns": [c.replace("_", " ") for c in columns],
        "rows": rows,
        "results_md": markdown(batch.results_md) if batch.results_md and not batch.rows else None,
        "chart": _batch_chart(batch, name_col),
        "extra_tasks": [
            {
                "name": t.name,
                "href": None if t.report is None else t.report.relative_to(batch.path).as_posix(),
            }
            for t in extra
        ],
        "n_tasks": max(len(batch.rows), len(batch.tasks)),
        "problems": batch.problems,
        "generated": now_text(),
        "pygments_css": Markup(""),
    }


_HIDDEN_BATCH_COLUMNS = {"run_dir"}
"""Columns the page shows otherwise (the task name links to the task's own report)."""


def _cell(value: str) -> str:
    """A CSV value for the table: integers with separators, floats to 4 significant digits."""
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return f"{int(text):,}"
    x = finite_float(text) if re.fullmatch(r"[-+0-9.eE]+", text) else None
    if x is None:
        return value
    return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:.4g}"


def _batch_chart(batch: BatchView, name_col: str | None) -> str | None:
    if name_col is None:
        return None
    fitness_cols = [
        c
        for c in batch.columns
        if "fitness" in c.lower() and any(finite_float(r.get(c)) is not None for r in batch.rows)
    ]
    if not fitness_cols:
        return None
    labels = [r.get(name_col, "") for r in batch.rows]
    return plots.bar_chart(
        labels, {c: [finite_float(r.get(c)) for r in batch.rows] for c in fitness_cols}, "fitness"
    )


# =========================================================================== formatting


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
