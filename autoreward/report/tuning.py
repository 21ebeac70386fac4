"""The report's "Coefficient tuning" section, from `<run>/tune/tune.json` (loop/tune.py).

The file is read as untrusted data: every value is checked for its type here and escaped by
the template; a missing or malformed file shows no section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoreward.report.fragments import fmt
from autoreward.store.atomic import read_json

_STATES = ("original", "complete", "pruned", "failed")


@dataclass
class TuneTrialRow:
    number: int
    state: str
    values: str
    rung_fitness: str
    fitness: str
    steps: str
    reason: str
    best: bool = False


@dataclass
class TuneView:
    status: str
    summary: list[str] = field(default_factory=list)
    trials: list[TuneTrialRow] = field(default_factory=list)


def load_tuning(run_dir: Path) -> TuneView | None:
    """The section's content, or None when the run did not tune."""
    doc = read_json(run_dir / "tune" / "tune.json")
    if not isinstance(doc, dict) or doc.get("status") not in ("running", "done", "skipped"):
        return None
    view = TuneView(status=str(doc["status"]))
    where = f"iteration {_int(doc.get('iteration'))}, candidate {_int(doc.get('index'))}"
    if view.status == "skipped":
        view.summary.append(f"Not tuned ({where}): {_text(doc.get('reason'))}")
        return view
    names = [_text(c.get("name")) for c in _list(doc.get("coefficients")) if isinstance(c, dict)]
    view.summary.append(
        f"{_int(doc.get('n_trials'))} Optuna trials ({_text(doc.get('sampler'))}) over the "
        f"coefficients {', '.join(names) or '?'} of the best reward ({where}); pruning: "
        f"{_text(doc.get('pruner'))}."
    )
    view.summary.append(
        f"{_int(doc.get('steps_spent')):,} training steps, {float(doc.get('wall_s') or 0) / 60:.1f} "
        "min of wall time."
    )
    best = doc.get("best") if isinstance(doc.get("best"), dict) else None
    final = doc.get("final") if isinstance(doc.get("final"), dict) else None
    if best is not None:
        line = (f"Best trial {_int(best.get('number'))}: single-seed fitness "
                f"{fmt(best.get('fitness'))}")  # fmt: skip
        if final is not None:
            line += (f"; on the final seeds {fmt(final.get('mean'))} ± {fmt(final.get('std'))} "
                     f"({_int(final.get('n_seeds'))} seeds)")  # fmt: skip
        line += f", against {fmt(doc.get('baseline_mean'))} for the reward before tuning: "
        line += "it replaced the best reward." if doc.get("chosen") else "the best reward was kept."
        view.summary.append(line)
    elif view.status == "done":
        view.summary.append(f"No trial beat the original: {_text(doc.get('reason'))}")
    best_number = best.get("number") if best else None
    for t in _list(doc.get("trials")):
        if not isinstance(t, dict) or t.get("state") not in _STATES:
            continue
        raw = t.get("params")
        params: dict[str, Any] = raw if isinstance(raw, dict) else {}
        view.trials.append(TuneTrialRow(
            number=_int(t.get("number")), state=str(t["state"]),
            values=", ".join(f"{_text(k)}={fmt(v)}" for k, v in params.items()),
            rung_fitness=fmt(t.get("rung_fitness")), fitness=fmt(t.get("fitness")),
            steps=f"{_int(t.get('steps')):,}", reason=_text(t.get("reason")),
            best=t.get("number") == best_number,
        ))  # fmt: skip
    return view


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _text(value: Any, n: int = 300) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
