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
            f"iteration {rec.iteration}, candidate {rec.index}: status {rec.status}, "
            f"fitness {_num(rec.fitness)}, env return {_num(rec.env_return)}, steps {rec.steps}"
        )
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
