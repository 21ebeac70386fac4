"""The context of one candidate's article in the run report: code and diff, plots with their
captions, video, critic reviews (and the review of a revision), training and evaluation lines,
and the notes that keep replayed texts from passing as this run's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from markupsafe import Markup

from autoreward.report import plots
from autoreward.report.data import CandidateView, IterationView, RunView
from autoreward.report.fragments import clip as _clip
from autoreward.report.fragments import code_block, diff_block, inline_markdown
from autoreward.report.fragments import fmt as _fmt
from autoreward.report.notes import REPLAY_NOTE, curve_caption


def candidate_context(
    run: RunView,
    c: CandidateView,
    it: IterationView,
    best: CandidateView | None,
    embed: Callable[[Path], Markup],
) -> dict[str, Any]:
    """`embed(video path)`: the markup of the video (the report embeds it, the studio links it
    by id)."""
    prev = it.previous_best
    diff_note: str | None
    if c.code is None:
        diff, diff_note = None, "no code (the designer's answer held no usable reward)"
    elif prev is None or prev.code is None:
        diff, diff_note = None, "first iteration: there is no previous best to compare with"
    else:
        diff = diff_block(
            prev.code,
            c.code,
            f"best so far (iter {prev.iteration} cand {prev.index})",
            f"iter {c.iteration} cand {c.index}",
        )
        diff_note = (
            None
            if diff is not None
            else f"identical to the previous best (iter {prev.iteration} cand {prev.index})"
        )
    curve = plots.learning_curve(c.curve()) if c.curve() else None
    components = plots.component_plot(c.stats) if c.stats else None
    return {
        "anchor": c.anchor,
        "index": c.index,
        "status": c.status,
        "is_best": best is not None and best.index == c.index,
        "fitness": _fmt(c.fitness),
        "env_return": _fmt(c.env_return),
        "steps": c.steps,
        "reason": c.reason,
        "hacking": c.hacking,
        "code": code_block(c.code) if c.code else None,
        "diff": diff,
        "diff_note": diff_note,
        "diff_against": None
        if prev is None
        else f"iteration {prev.iteration}, candidate {prev.index}",
        "curve": curve,
        "curve_caption": curve_caption(_eval_episodes(c, run), c.stats),
        "curve_note": None if curve else _missing_training(c, "no learning curve"),
        "components": components,
        "components_note": None if components else _missing_training(c, "no component statistics"),
        "video": embed(c.video) if c.video is not None else None,
        "video_note": None if c.video is not None else video_note(c),
        "critic": _critic(c, run.replays.critic(c.iteration, c.index)),
        "design_replayed": REPLAY_NOTE if run.replays.design(c.iteration, c.index) else None,
        "training": training_line(c),
        "rung": _rung_line(c),
        "evaluation": eval_line(c),
        "problems": c.problems,
    }


def _missing_training(c: CandidateView, what: str) -> str:
    if c.status in {"failed_check", "duplicate"}:
        return f"{what}: the candidate was not trained ({c.status.replace('_', ' ')})"
    if c.status == "pending":
        return f"{what}: training has not finished"
    if c.train is None:
        return f"{what}: train.json is missing"
    return f"{what} were recorded" if what.endswith("statistics") else f"{what} was recorded"


def video_note(c: CandidateView) -> str:
    if c.status == "pruned":
        return (
            "no video: pruned by successive halving after the first rung (videos are rendered "
            "for the candidates that train on the full budget)"
        )
    status = str((c.train or {}).get("video_status") or "")
    if status == "not requested":
        return "no video: turned off for this run (--no-video)"
    if status and not status.startswith("ok"):
        return status if status.startswith("no video") else f"no video ({status})"
    if c.status in {"failed_check", "duplicate", "pending"}:
        return "no video: the candidate was not trained"
    return "no video recorded"


def _critic(c: CandidateView, replayed: bool = False) -> dict[str, Any] | None:
    v = c.critique
    if v is None:
        return None
    out = _verdict(v)
    after = v.get("after_revision")
    out.update(
        revised=bool(c.record and "critic" in c.record.revised),
        after_revision=_verdict(after) if isinstance(after, dict) else None,
        replayed=REPLAY_NOTE if replayed else None,
    )
    return out


def _verdict(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": bool(v.get("ok")),
        "issues": [
            (str(i.get("kind", "other")), inline_markdown(str(i.get("detail", ""))))
            for i in v.get("issues") or []
            if isinstance(i, dict)
        ],
        "suggestion": inline_markdown(str(v.get("suggestion") or "")),
        "warning": v.get("warning"),
    }


def deferred_analysis(it: IterationView) -> bool:
    """Whether the loop skipped this iteration's analysis as the run's last."""
    try:
        done = json.loads((it.folder / "done.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(done, dict) and done.get("analysis") == "deferred"


def _eval_episodes(c: CandidateView, run: RunView) -> int | None:
    episodes = (c.evaluation or {}).get("episodes")
    if isinstance(episodes, list) and episodes:
        return len(episodes)
    value = run.config.get("eval_episodes")
    return int(value) if isinstance(value, int) else None


def _rung_line(c: CandidateView) -> str | None:
    """The first successive-halving rung: the candidate's score against its rivals there."""
    rung = c.record.rung if c.record is not None else None
    if rung is None:
        return None

    def pm(value: float | None, se: float | None) -> str:
        return (
            "failed" if value is None else f"{value:.3g}" + ("" if se is None else f" ± {se:.2g}")
        )

    rivals = ", ".join(
        f"cand {o.index} {pm(o.fitness, o.fitness_se)} ({'kept' if o.kept else 'pruned'})"
        for o in rung.rivals
    )
    return (f"halving rung 1 ({rung.steps:,} steps): {pm(rung.fitness, rung.fitness_se)}, "
            f"{'kept' if rung.kept else 'pruned'} — {rung.why}; rivals: {rivals or 'none'}")  # fmt: skip


def training_line(c: CandidateView) -> str | None:
    t = c.train
    if not t:
        return None
    parts = [str(t.get("algo") or ""), f"{int(t.get('steps') or 0):,} steps"]
    if t.get("wall_s"):
        parts.append(f"{float(t['wall_s']):.0f} s")
    if t.get("steps_per_s"):
        parts.append(f"{float(t['steps_per_s']):,.0f} steps/s")
    if t.get("status") == "failed":
        parts.append("failed: " + _clip(str(t.get("reason") or ""), 200))
    return " · ".join(p for p in parts if p)


def eval_line(c: CandidateView) -> str | None:
    e = c.evaluation
    if not e:
        return None
    n = len(e.get("episodes") or [])
    parts = [f"{e.get('fitness_kind', '')} fitness {_fmt(e.get('fitness'))} over {n} episodes"]
    if e.get("env_return_mean") is not None:
        parts.append(f"env return {_fmt(e['env_return_mean'])} ± {_fmt(e.get('env_return_std'))}")
    if e.get("generated_return_mean") is not None:
        parts.append(f"generated return {_fmt(e['generated_return_mean'])}")
    if e.get("length_mean") is not None:
        parts.append(f"length {_fmt(e['length_mean'])}")
    parts.append(f"{e.get('terminated', 0)} terminated, {e.get('truncated', 0)} truncated")
    return " · ".join(parts)
