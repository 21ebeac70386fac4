"""The reward-reflection statistics both trainers record (`stats.json` and its text for the
analyzer); no SB3 or torch here, so the parent renders the text without importing them (the
SB3 callbacks that record checkpoints are in `sb3/callbacks.py`).

At ~10 evenly spaced checkpoints a trainer records, for the total and every reward
component, the per-step mean/std/min/max over the steps since the previous checkpoint, the
mean per-episode sums of the training episodes that finished in that window, and the task
fitness of a short evaluation at that point (deterministic unless the schema says otherwise).
Reward hacking is measured from these points: the generated return rising while the fitness
stays flat or falls.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from autoreward.errors import AutorewardError
from autoreward.train.ledger import TOTAL, EpisodeRecord
from autoreward.train.ranks import spearman

GEN_TREND = 0.6
"""Rank correlation of the generated return with the training step at or above which it rises."""
GEN_RISE = 0.25
"""Rise of the generated return (last third vs first third) as a fraction of its observed range
(max - min over the checkpoints) at or above which it counts as rising: meaningful for any sign."""
FIT_TREND = 0.3
"""Rank correlation of the fitness with the training step at or below which it counts as flat
or falling."""
MIN_CHECKPOINTS = 5
# Share of the training returns' rise (first third -> last third) the deterministic evaluation
# episodes must also collect for a flat fitness to count as hacking (see detect_reward_hacking).
DETERMINISTIC_SHARE = 0.5
"""Checkpoints with both returns needed for a verdict: over 3 or 4 points a rank correlation of
±1 happens by chance too often (a short run would be flagged for noise)."""


class TrainingDiverged(AutorewardError):
    """The policy's parameters or losses became NaN/inf."""


class HackingVerdict(BaseModel):
    """Whether the generated return rose while the fitness did not follow, and the numbers."""

    flagged: bool
    reason: str
    generated_change: float | None = None
    """Last third minus first third of the generated return, over its observed range ([-1, 1])."""
    fitness_change: float | None = None
    """The same for the fitness."""
    generated_trend: float | None = None
    """Spearman rank correlation of the generated return with the training step."""
    fitness_trend: float | None = None
    """Spearman rank correlation of the fitness with the training step."""
    coupling: float | None = None
    """Spearman rank correlation of the generated return with the fitness over checkpoints."""


def checkpoint_thresholds(total_steps: int, start_step: int, n_checkpoints: int) -> list[int]:
    """The step counts at which statistics checkpoints fall: `n_checkpoints` evenly spaced
    between `start_step` and `total_steps` (the last one at `total_steps`)."""
    span = max(total_steps - start_step, 1)
    n = max(1, min(n_checkpoints, span))
    return [start_step + math.ceil(span * k / n) for k in range(1, n + 1)]


class RewardStatistics(Protocol):
    """What a checkpoint reads: `RewardVecEnvWrapper` (SB3) or a `RewardLedger` (rsl-rl)."""

    @property
    def term_names(self) -> list[str]: ...

    def window_stats(self, reset: bool = True) -> dict[str, dict[str, float]]: ...

    def pop_episodes(self) -> list[EpisodeRecord]: ...


def checkpoint_point(
    source: RewardStatistics, step: int, fitness: float | None = None
) -> dict[str, Any]:
    """One statistics checkpoint: the window's per-step statistics (then reset) and the
    training episodes that finished in it (then forgotten). The same document for every
    training backend."""
    episodes = source.pop_episodes()
    per_step = source.window_stats(reset=True)
    total = per_step.pop(TOTAL, None)
    per_episode: dict[str, float] = {}
    if episodes:
        for name in source.term_names:
            per_episode[name] = float(np.mean([e.terms.get(name, 0.0) for e in episodes]))
    return {
        "step": step,
        "fitness": fitness,
        "generated_return": _mean([e.generated_return for e in episodes]),
        "env_return": _mean([e.env_return for e in episodes if e.env_return is not None]),
        "episode_length": _mean([float(e.length) for e in episodes]),
        "episodes": len(episodes),
        "terminated_fraction": _mean([float(e.terminated) for e in episodes]),
        "reward_per_step": total,
        "per_step": per_step,
        "per_episode": per_episode,
    }


# =========================================================================== analysis


def detect_reward_hacking(
    history: list[dict[str, Any]],
    fitness_ceiling: float | None = None,
    eval_generated_return: float | None = None,
    deterministic_eval: bool = True,
) -> HackingVerdict:
    """Flag a rising generated return with a flat or falling fitness across checkpoints.

    Rank statistics and range-relative changes, so the verdict means the same for returns of
    any sign: the generated return rises when its rank correlation with the training step is
    at least `GEN_TREND` and its last third lies at least `GEN_RISE` of its observed range
    above its first third; the fitness fails to follow when its rank correlation with the step
    is at most `FIT_TREND` (a constant fitness counts as flat). A fitness already at
    `fitness_ceiling` is not flagged.

    The checkpoints' generated returns come from the stochastic training policy, their fitness
    from evaluations (deterministic unless `deterministic_eval` is false, as for Crafter).
    `eval_generated_return` (the mean generated return of the final evaluation episodes) tells
    the two apart: when the evaluated policy collects less than `DETERMINISTIC_SHARE` of the rise
    the training returns show, the gap is between training and evaluation, not a reward the
    policy farms against the task, and nothing is flagged.
    """
    points = [
        (p.get("step", i), p["generated_return"], p["fitness"])
        for i, p in enumerate(history)
        if p.get("generated_return") is not None and p.get("fitness") is not None
    ]
    if len(points) < MIN_CHECKPOINTS:
        return HackingVerdict(
            flagged=False,
            reason=f"too few checkpoints with both returns ({len(points)}; a trend needs "
            f"{MIN_CHECKPOINTS})",
        )
    steps = np.array([s for s, _, _ in points], dtype=float)
    gen = np.array([g for _, g, _ in points], dtype=float)
    fit = np.array([f for _, _, f in points], dtype=float)
    third = max(1, len(points) // 3)
    gen_first, gen_last = float(gen[:third].mean()), float(gen[-third:].mean())
    fit_first, fit_last = float(fit[:third].mean()), float(fit[-third:].mean())
    gen_change = _range_change(gen_first, gen_last, gen)
    fit_change = _range_change(fit_first, fit_last, fit)
    gen_trend = _trend(steps, gen)
    fit_trend = _trend(steps, fit)
    coupling = spearman(gen, fit)
    at_ceiling = fitness_ceiling is not None and fit_last >= fitness_ceiling
    rises = gen_trend >= GEN_TREND and gen_change >= GEN_RISE
    follows = fit_trend > FIT_TREND
    flagged = rises and not follows and not at_ceiling
    share = None
    evaluation = (
        "deterministic evaluation" if deterministic_eval else "evaluation (sampled actions)"
    )
    if flagged and eval_generated_return is not None and gen_last != gen_first:
        share = (eval_generated_return - gen_first) / (gen_last - gen_first)
        flagged = share >= DETERMINISTIC_SHARE
    numbers = dict(
        generated_change=gen_change, fitness_change=fit_change, generated_trend=gen_trend,
        fitness_trend=fit_trend, coupling=None if math.isnan(coupling) else coupling,
    )  # fmt: skip
    if flagged:
        fell = fit_trend <= -FIT_TREND and fit_change <= -0.5
        trend = "fell" if fell else "stayed flat"
        reason = (
            f"generated return rose by {gen_change:.0%} of its observed range (first third "
            f"{gen_first:.3g} → last third {gen_last:.3g}; rank correlation with training step "
            f"{gen_trend:+.2f}) while fitness {trend} ({fit_first:.3g} → {fit_last:.3g}; rank "
            f"correlation with step {fit_trend:+.2f}); rank correlation of generated return "
            f"with fitness over checkpoints: {_signed(coupling)}"
        )
    elif at_ceiling:
        reason = "fitness reached its target"
    elif share is not None:
        reason = (
            f"not hacking: the training returns rose ({gen_first:.3g} → {gen_last:.3g}) while "
            f"fitness did not follow, but the {evaluation} episodes collect only "
            f"{eval_generated_return:.3g} of the generated reward ({share:.0%} of that rise): the "
            f"gap is between the training episodes and the {evaluation}, not a reward the "
            "evaluated policy farms"
        )
    else:
        reason = (
            f"consistent: generated return trend {gen_trend:+.2f}, fitness trend {fit_trend:+.2f} "
            f"(rank correlations with training step), their rank correlation {_signed(coupling)}"
        )
    return HackingVerdict(flagged=flagged, reason=reason, **numbers)


def build_stats(
    history: list[dict[str, Any]],
    term_names: list[str],
    fitness_ceiling: float | None = None,
    eval_generated_return: float | None = None,
    deterministic_eval: bool = True,
) -> dict[str, Any]:
    """The `stats.json` document."""
    verdict = detect_reward_hacking(
        history, fitness_ceiling, eval_generated_return, deterministic_eval
    )
    return {
        "components": term_names,
        "checkpoints": history,
        "hacking": verdict.model_dump(),
        "deterministic_eval": deterministic_eval,
    }


def render_stats_text(stats: dict[str, Any], max_points: int = 10) -> str:
    """Compact text of the statistics for the analyzer prompt (Eureka-style reward reflection)."""
    points = _thin(stats.get("checkpoints", []), max_points)
    if not points:
        return "No training statistics were recorded."
    lines = [f"Training checkpoints at steps: {', '.join(_steps(p['step']) for p in points)}"]
    lines.append(f"task fitness: {_series([p.get('fitness') for p in points])}")
    lines.append(
        f"generated return (per episode): {_series([p.get('generated_return') for p in points])}"
    )
    lines.append(
        f"env's own return (per episode): {_series([p.get('env_return') for p in points])}"
    )
    lines.append(f"episode length: {_series([p.get('episode_length') for p in points])}")
    for name in stats.get("components", []):
        sums = [p.get("per_episode", {}).get(name) for p in points]
        step_stats = [
            p.get("per_step", {}).get(name) for p in points if p.get("per_step", {}).get(name)
        ]
        lines.append(f"component '{name}' episode sum: {_series(sums)}")
        if step_stats:
            means = [s["mean"] for s in step_stats]
            lo = min(s["min"] for s in step_stats)
            hi = max(s["max"] for s in step_stats)
            std = float(np.mean([s["std"] for s in step_stats]))
            lines.append(
                f"  per step: mean {_fmt(means[0])} → {_fmt(means[-1])}, min {_fmt(lo)}, max {_fmt(hi)}, typical std {_fmt(std)}"
            )
    hacking = stats.get("hacking") or {}
    if hacking.get("flagged"):
        lines.append(f"WARNING suspected reward hacking: {hacking.get('reason')}")
    return "\n".join(lines)


def _range_change(first: float, last: float, values: np.ndarray) -> float:
    """(last - first) over the observed range of `values`; 0 when they never change."""
    span = float(values.max() - values.min())
    return 0.0 if span <= 1e-12 * max(1.0, float(np.abs(values).max())) else (last - first) / span


def _trend(steps: np.ndarray, values: np.ndarray) -> float:
    """Rank correlation with the training step; 0 for a constant series (no trend)."""
    rho = spearman(steps, values)
    return 0.0 if math.isnan(rho) else rho


def _signed(x: float) -> str:
    return "undefined" if math.isnan(x) else f"{x:+.2f}"


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _thin(points: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    if len(points) <= n:
        return points
    idx = np.unique(np.linspace(0, len(points) - 1, n).round().astype(int))
    return [points[i] for i in idx]


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.3g}"


def _series(values: list[float | None]) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


def _steps(step: int) -> str:
    return f"{step / 1000:.0f}k" if step >= 10_000 else str(step)
