"""What keeps the numbers a run shows from misleading, said the same way wherever they appear
(the HTML report, `refine`, the closing summary of `autoreward run`):

- which LLM texts were replayed *by position* (`llm/calls.jsonl` records `"replay": "position"`):
  written for the recorded run's numbers, not this run's, so "candidate 1, fitness 0.960" in
  such a text may sit above a table showing 0.197;
- what a learning curve's fitness points measure, next to the headline fitness;
- the best fitness with its spread over seeds, and the single-seed value it was screened on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoreward.train.job import TrainJob

REPLAY_NOTE = (
    "replayed by position from a recorded session: written for the recorded run's numbers, "
    "not this run's"
)
CHECKPOINT_EPISODES = int(TrainJob.model_fields["checkpoint_eval_episodes"].default)
"""Evaluation episodes at each statistics checkpoint (the loop leaves the job default)."""

_DESIGNER_ROLES = {"designer", "repair", "revise"}


@dataclass
class ReplayMarks:
    """The calls of a run answered by position, by what their text became."""

    analyses: set[int] = field(default_factory=set)
    critics: set[tuple[int, int]] = field(default_factory=set)
    designs: set[tuple[int, int]] = field(default_factory=set)
    other: int = 0

    def analysis(self, iteration: int) -> bool:
        return iteration in self.analyses

    def critic(self, iteration: int, candidate: int) -> bool:
        return (iteration, candidate) in self.critics

    def design(self, iteration: int, candidate: int) -> bool:
        return (iteration, candidate) in self.designs

    @property
    def count(self) -> int:
        return len(self.analyses) + len(self.critics) + len(self.designs) + self.other

    def items(self) -> list[str]:
        """One phrase per replayed text, e.g. 'analysis of iteration 0'."""
        out = [f"analysis of iteration {i}" for i in sorted(self.analyses)]
        out += [f"critic review of iteration {i} candidate {j}" for i, j in sorted(self.critics)]
        out += [f"designer answer of iteration {i} candidate {j}" for i, j in sorted(self.designs)]
        if self.other:
            out.append(f"{self.other} other call{'' if self.other == 1 else 's'}")
        return out

    def summary(self) -> str | None:
        """One sentence for a summary, or None when nothing was replayed by position."""
        if not self.count:
            return None
        return f"{self.count} LLM text(s) {REPLAY_NOTE}: {', '.join(self.items())}"


def replay_marks(run_dir: str | Path) -> ReplayMarks:
    """Read `llm/calls.jsonl` of a run (lenient: unreadable lines are skipped)."""
    marks = ReplayMarks()
    path = Path(run_dir) / "llm" / "calls.jsonl"
    if not path.exists():
        return marks
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            call = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(call, dict) or call.get("replay") != "position":
            continue
        meta = call.get("meta") or {}
        it, cand, role = meta.get("iteration"), meta.get("candidate"), call.get("role")
        if role == "analyzer" and isinstance(it, int):
            marks.analyses.add(it)
        elif role == "critic" and isinstance(it, int) and isinstance(cand, int):
            marks.critics.add((it, cand))
        elif role in _DESIGNER_ROLES and isinstance(it, int) and isinstance(cand, int):
            marks.designs.add((it, cand))
        else:
            marks.other += 1
    return marks


def curve_caption(eval_episodes: int | None, stats: dict[str, Any] | None = None) -> str:
    """What a learning curve shows, and why its last point need not equal the headline;
    `stats` (the candidate's `stats.json`) says whether its evaluations sample their actions."""
    final = f"{eval_episodes} episodes" if eval_episodes else "its evaluation episodes"
    if (stats or {}).get("deterministic_eval", True) is False:
        kind, also = "an evaluation with sampled actions", "also with sampled actions"
    else:
        kind, also = "a deterministic evaluation", "also deterministically"
    return (
        f"Fitness points: {kind} over {CHECKPOINT_EPISODES} episodes at each checkpoint (the "
        f"same start states each time). The headline fitness evaluates the final policy, {also}, "
        f"over {final}, so the last point can differ from it. Returns: mean per-episode return "
        "of the training episodes since the previous checkpoint, with stochastic actions "
        "(exploration)."
    )


def final_text(final: dict[str, Any] | None) -> str | None:
    """'0.66 ± 0.29 over 3 seeds' for a final-seeds document, else None."""
    if not final or final.get("mean") is None:
        return None
    n = final.get("n_seeds") or len(final.get("per_seed") or final.get("fitnesses") or [])
    std = final.get("std") or 0.0
    if n == 1:  # one value has no spread
        return f"{final['mean']:.4g} over 1 seed"
    return f"{final['mean']:.4g} ± {std:.3g} over {n} seeds"


def final_for(final: dict[str, Any] | None, iteration: int, index: int) -> dict[str, Any] | None:
    """`final` when it estimates that candidate (an old document without a place counts)."""
    if not final:
        return None
    where = (final.get("iteration"), final.get("index"))
    return final if where == (None, None) or where == (iteration, index) else None


def best_fitness_text(single: float | None, final: dict[str, Any] | None) -> str:
    """The best fitness with its spread: the multi-seed estimate when there is one (with the
    single-seed screening value it was selected on), else the single-seed value, said so."""
    estimate = final_text(final)
    if estimate is not None:
        screened = final.get("screening_fitness", single) if final else single
        extra = "" if screened is None else f"; screening {screened:.4g}"
        return f"{estimate} (fresh training seeds{extra})"
    if single is None:
        return "none"
    return f"{single:.4g} (one training seed; no spread measured: no final seeds)"
