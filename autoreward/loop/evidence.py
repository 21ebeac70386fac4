"""What the loop reads back from the run directory to show the LLM: candidate summaries for the
analyzer, fitness tables and statistics for the designer, and the re-scoring of stored
evaluation episodes with a new reward (run in the sandbox worker: the code is untrusted)."""

from __future__ import annotations

import math
from pathlib import Path

from autoreward.agents.prompts import RenderedPrompt
from autoreward.store.atomic import read_json
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir

MAX_STORED_RUNS = 8
"""Candidates whose stored episodes a new reward is re-scored on (the best and the worst first)."""


def fitness_table(records: list[CandidateRecord]) -> str:
    """Markdown table of candidates and their outcomes (fitness values, never fitness code)."""
    rows = [
        "| iteration | candidate | status | fitness | env return | steps | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r.iteration, r.index)):
        rows.append(
            f"| {r.iteration} | {r.index} | {r.status} | {_num(r.fitness)} | {_num(r.env_return)} "
            f"| {r.steps or ''} | {(r.reason or '').splitlines()[0][:100] if r.reason else ''} |"
        )
    return "\n".join(rows)


def fitness_spread(cand_dir: Path) -> tuple[float | None, int]:
    """Standard error of a candidate's fitness over its evaluation episodes, and their count."""
    from autoreward.train.halving import standard_error

    train = read_json(cand_dir / "train.json") or {}
    values = [v for v in train.get("fitness_episodes") or [] if isinstance(v, (int, float))]
    return standard_error(values), len(values)


def fitness_with_spread(value: float | None, cand_dir: Path) -> str:
    """ "0.62 ± 0.05 (standard error over 5 episodes)", or the bare value when unknown."""
    if value is None:
        return "none"
    se, n = fitness_spread(cand_dir)
    if se is None:
        return f"{value:.4g}" + (f" ({n} episode)" if n == 1 else "")
    return f"{value:.4g} ± {se:.2g} (standard error over {n} episodes)"


def fitness_text(rec: CandidateRecord, cand_dir: Path) -> str:
    """The fitness the loop ranks a candidate by. With several training seeds it is their mean,
    shown with each seed's value; the spread and the evaluation details beside it are the first
    seed's (the candidate folder holds that seed's run), and the text says so."""
    seeds = rec.seed_fitness
    if len(seeds) < 2 or rec.fitness is None:
        return fitness_with_spread(rec.fitness, cand_dir)
    values = ", ".join("failed" if v is None else f"{v:.4g}" for v in seeds)
    se, n = fitness_spread(cand_dir)
    spread = f"; standard error {se:.2g} over its {n} episodes" if se is not None else ""
    return (
        f"{rec.fitness:.4g}, the mean of {len(seeds)} training seeds ({values}); the evaluation "
        f"details shown are the first seed's ({_num(seeds[0])}{spread})"
    )


def candidate_brief(cand_dir: Path) -> str:
    """One trained candidate in a few lines: fitness with its spread, env return, the reward
    components at the first and last checkpoint, how evaluation episodes ended, the hacking
    flag, and the halving rung with what its rivals scored there."""
    rec = CandidateRecord.load(cand_dir)
    if rec is None:
        return f"- {cand_dir.name}: no record"
    head = (
        f"- iter {rec.iteration} cand {rec.index} · {rec.status} · {rec.steps:,} steps · fitness "
        f"{fitness_text(rec, cand_dir)} · env return {_num(rec.env_return)}"
    )
    lines = [head]
    stats = read_json(cand_dir / "stats.json") or {}
    points = stats.get("checkpoints") or []
    if points and stats.get("components"):
        first, last = points[0].get("per_episode") or {}, points[-1].get("per_episode") or {}
        terms = [
            f"{name} {_num(first.get(name))} → {_num(last.get(name))}"
            for name in stats["components"]
        ]
        lines.append(
            "  components (sum per training episode, first → last checkpoint): " + "; ".join(terms)
        )
    ev = read_json(cand_dir / "eval.json") or {}
    if ev.get("episodes"):
        n = len(ev["episodes"])
        lines.append(
            f"  evaluation: {ev.get('terminated', 0)} of {n} episodes terminated early, "
            f"{ev.get('truncated', 0)} ran into the time limit; mean length {_num(ev.get('length_mean'))}"
        )
    hacking = (stats.get("hacking") or {}) if stats else {}
    if hacking.get("flagged"):
        lines.append(f"  suspected reward hacking: {hacking.get('reason')}")
    if rec.rung is not None:
        lines.append("  " + rung_text(rec))
    return "\n".join(lines)


def rung_text(rec: CandidateRecord) -> str:
    """The first halving rung: this candidate's score and its rivals' at the same rung."""
    r = rec.rung
    if r is None:
        return ""
    rivals = ", ".join(
        f"cand {o.index} {_pm(o.fitness, o.fitness_se)} ({'kept' if o.kept else 'pruned'})"
        for o in r.rivals
    )
    return (
        f"halving rung 1 ({r.steps:,} steps): {_pm(r.fitness, r.fitness_se)}, "
        f"{'kept' if r.kept else 'pruned'}; rivals at that rung: {rivals or 'none'}"
    )


def candidates_overview(run: RunDir, records: list[CandidateRecord]) -> str | None:
    """Every trained candidate (full budget or stopped at a rung) of `records`, compactly."""
    trained = [r for r in records if r.fitness is not None]
    if not trained:
        return None
    trained.sort(key=lambda r: (r.iteration, r.index))
    return "\n".join(candidate_brief(run.cand_dir(r.iteration, r.index)) for r in trained)


MAX_FAILURE_CODE_CHARS = 6000
_STATUS_TEXT = {
    "failed_check": "no valid code after the repairs",
    "failed_train": "training failed",
}


def failures_text(run: RunDir, records: list[CandidateRecord]) -> str | None:
    """When no candidate of `records` trained to a fitness: each one's code and the reason it
    failed, so the next design starts from the cause (duplicates name their original)."""
    if not records or any(r.fitness is not None for r in records):
        return None
    parts = []
    for r in sorted(records, key=lambda r: (r.iteration, r.index)):
        status = _STATUS_TEXT.get(r.status, r.status)
        reason = (r.reason or "no reason recorded").strip()
        head = (
            f"## Iteration {r.iteration}, candidate {r.index}: {status}\n\nReason: {reason[:1500]}"
        )
        code_file = run.cand_dir(r.iteration, r.index) / "reward.py"
        code = code_file.read_text(encoding="utf-8") if code_file.exists() else ""
        if r.status == "duplicate" or not code.strip():
            parts.append(head)
            continue
        if len(code) > MAX_FAILURE_CODE_CHARS:
            code = code[:MAX_FAILURE_CODE_CHARS] + "\n# ... (cut)"
        parts.append(f"{head}\n\n```python\n{code.strip(chr(10))}\n```")
    return "\n\n".join(parts)


def best_and_worst(
    records: list[CandidateRecord],
) -> tuple[CandidateRecord | None, CandidateRecord | None]:
    """The best (full budget first) and the worst trained candidate; the worst is None when it
    would be the best again (fewer than two trained)."""
    trained = [r for r in records if r.fitness is not None]
    if not trained:
        return None, None
    full = [r for r in trained if r.status == "trained"] or trained
    best = max(full, key=lambda r: (r.fitness, r.steps, -r.index))
    rest = [r for r in trained if (r.iteration, r.index) != (best.iteration, best.index)]
    worst = min(rest, key=lambda r: (r.fitness, r.steps, r.index)) if rest else None
    return best, worst


def stats_text(cand_dir: Path) -> str | None:
    """Reward-reflection statistics (components at checkpoints, fitness) as prompt text."""
    stats = read_json(cand_dir / "stats.json")
    if not stats:
        return None
    from autoreward.train.stats import render_stats_text

    return render_stats_text(stats)


def candidate_summary(cand_dir: Path) -> str:
    """Everything the analyzer should know about one trained candidate, as text."""
    rec = CandidateRecord.load(cand_dir)
    parts = []
    if rec is not None:
        parts.append(
            f"iteration {rec.iteration}, candidate {rec.index}: status {rec.status}, fitness "
            f"{fitness_text(rec, cand_dir)}, env return {_num(rec.env_return)}, "
            f"steps {rec.steps}"
        )
        if rec.rung is not None:
            parts.append(rung_text(rec))
    code = cand_dir / "reward.py"
    if code.exists():
        parts.append(
            "Reward code:\n```python\n" + code.read_text(encoding="utf-8").strip() + "\n```"
        )
    train = read_json(cand_dir / "train.json") or {}
    if train.get("hacking_flag"):
        parts.append(f"Suspected reward hacking: {train.get('hacking_reason')}")
    stats = stats_text(cand_dir)
    if stats:
        parts.append("Reward statistics during training:\n" + stats)
    traj = read_json(cand_dir / "trajectories.json")
    if traj:
        from autoreward.train.trajectories import render_trajectories_text

        parts.append("Evaluation trajectories:\n" + render_trajectories_text(traj))
    return "\n\n".join(parts)


def stored_episodes(run: RunDir, history: list[CandidateRecord]) -> list[str]:
    """The episodes.npz files of earlier trained candidates, best and worst first."""
    trained = [r for r in history if r.fitness is not None]
    trained.sort(key=lambda r: r.fitness or 0.0)
    picked: list[CandidateRecord] = []
    while trained and len(picked) < MAX_STORED_RUNS:
        picked.append(trained.pop())  # best remaining
        if trained:
            picked.append(trained.pop(0))  # worst remaining
    paths = [run.cand_dir(r.iteration, r.index) / "episodes.npz" for r in picked]
    return [str(p) for p in paths if p.exists()]


def rescore(
    npz_paths: list[str], code: str, timeout_s: float = 120.0
) -> tuple[float, RenderedPrompt | None]:
    """Spearman correlation between the new reward's returns on the stored episodes and their
    fitness, and the evidence text for the designer when the ranking is inverted.

    The reward runs in its own container (`train.rescore.rescore_job`) that sees the stored
    episodes read-only and nothing else of the run. A reward that fails while re-scoring
    gives (nan, None): the dry run already vetted it, and training will report the failure.
    """
    from autoreward.agents.consistency import RankingCheck
    from autoreward.sandbox.untrusted import UntrustedDataError
    from autoreward.sandbox.worker import Limits, run_isolated

    result = run_isolated(
        "autoreward.train.rescore:rescore_job",
        {"code": code, "paths": npz_paths},
        Limits(
            cpu_seconds=int(timeout_s), wall_seconds=timeout_s, address_space_mb=4096,
            reward_call_seconds=30.0, reward_call_unit="call",
        ),
        inputs=[Path(p) for p in npz_paths],
    )  # fmt: skip
    if not result.ok or result.value is None:
        return math.nan, None
    try:
        returns = [float(x) for x in result.value["returns"]]
        fitness = [float(x) for x in result.value["fitness"]]
        labels = [str(x)[:80] for x in result.value["labels"]]
    except (KeyError, TypeError, ValueError, UntrustedDataError):
        return math.nan, None
    if not len(returns) == len(fitness) == len(labels):
        return math.nan, None
    check = RankingCheck.compute(returns, fitness, labels)
    return check.rho, check.reason()


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return "failed"
    return f"{value:.3g}" + ("" if se is None else f" ± {se:.2g}")
