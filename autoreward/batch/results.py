"""The results of a batch: one row per task, and the tables written from them
(results.md, results.csv, the batch_results table of index.sqlite)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from autoreward.batch.batchdir import BatchDir
from autoreward.batch.suites import Suite
from autoreward.store.atomic import atomic_write_text

TaskStatus = Literal["pending", "running", "done", "failed"]


RESULT_COLUMNS = [
    "task", "env_id", "status", "fitness_kind", "best_fitness", "final_fitness", "final_std",
    "final_seeds", "target_reached", "baseline_fitness", "sparse_fitness", "random_fitness",
    "normalized", "normalized_sparse", "over_random", "note", "iterations", "tokens", "cost",
    "wall_s", "reason", "run_dir",
]  # fmt: skip


class TaskRow(BaseModel):
    """One line of the results table."""

    task: str
    env_id: str
    status: TaskStatus = "pending"
    fitness_kind: str | None = None
    best_fitness: float | None = Field(
        default=None, description="The chosen candidate's single-seed (screening) fitness."
    )
    final_fitness: float | None = Field(
        default=None, description="Mean fitness of the best reward retrained on fresh seeds."
    )
    final_std: float | None = Field(default=None, description="Its standard deviation over seeds.")
    final_seeds: int | None = Field(default=None, description="How many seeds it is over.")
    target_reached: bool | None = Field(
        default=None, description="`ours` >= the target fitness (None without a target)."
    )
    baseline_fitness: float | None = Field(
        default=None, description="Env-reward baseline: the env's own reward, same budget."
    )
    sparse_fitness: float | None = Field(
        default=None,
        description="Sparse-fitness baseline: the task fitness as reward, same budget.",
    )
    sparse_rule: str = Field(default="", description="How the fitness was turned into a reward.")
    random_fitness: float | None = Field(default=None, description="A uniformly random policy.")
    normalized: float | None = Field(
        default=None, description="(ours - random) / (env-reward baseline - random)."
    )
    normalized_sparse: float | None = Field(
        default=None, description="(ours - random) / (sparse-fitness baseline - random)."
    )
    over_random: float | None = Field(default=None, description="ours - random, in fitness units.")
    note: str = Field(default="", description="Why `normalized` is missing, or what it used.")
    iterations: int = 0
    tokens: int = 0
    cost: float = 0.0
    wall_s: float = 0.0
    reason: str = Field(default="", description="Why the task failed.")
    run_dir: str = ""

    @property
    def ours(self) -> float | None:
        """The fitness the normalized score uses: the final-seed mean when there is one."""
        return self.final_fitness if self.final_fitness is not None else self.best_fitness


class BatchResult(BaseModel):
    batch_dir: str
    suite: str
    rows: list[TaskRow]
    wall_s: float

    @property
    def failed(self) -> list[TaskRow]:
        return [r for r in self.rows if r.status == "failed"]


def llm_usage(run_dir: Path) -> tuple[int, float]:
    """Tokens and cost paid by a run, from its call log (cached answers cost nothing); counts
    every session of a resumed run, which the client's own totals do not."""
    path = run_dir / "llm" / "calls.jsonl"
    tokens, cost = 0, 0.0
    if not path.exists():
        return tokens, cost
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            call = json.loads(line)
        except json.JSONDecodeError:
            continue
        if call.get("cached") or "error" in call:
            continue
        tokens += int(call.get("prompt_tokens") or 0) + int(call.get("completion_tokens") or 0)
        cost += float(call.get("cost") or 0.0)
    return tokens, cost


# =========================================================================== results


def rows_of(batch: BatchDir, suite: Suite) -> list[TaskRow]:
    """The result row of every task of `suite` that has one in the batch's state, in suite order."""
    state = batch.state()["tasks"]
    return [
        TaskRow.model_validate(state[t.name]["row"])
        for t in suite.tasks
        if state.get(t.name, {}).get("row")
    ]


def write_results(batch: BatchDir, suite: Suite, rows: Sequence[TaskRow]) -> None:
    """results.md, results.csv and the batch_results table of index.sqlite."""
    atomic_write_text(batch.path / "results.md", results_markdown(suite, rows, batch.path))
    atomic_write_text(batch.path / "results.csv", results_csv(rows))
    from autoreward.store.index import RunIndex

    index = RunIndex(batch.path / "index.sqlite")
    for r in rows:
        index.upsert("batch_results", {"batch_dir": str(batch.path), **_index_row(r)})


def _index_row(r: TaskRow) -> dict[str, Any]:
    return {
        "task": r.task, "env_id": r.env_id, "run_dir": r.run_dir, "status": r.status,
        "best_fitness": r.best_fitness, "baseline_fitness": r.baseline_fitness,
        "random_fitness": r.random_fitness, "normalized": r.normalized, "iterations": r.iterations,
        "tokens": r.tokens, "cost": r.cost, "wall_s": r.wall_s, "reason": r.reason or None,
        "fitness_kind": r.fitness_kind, "final_fitness": r.final_fitness, "note": r.note or None,
        "final_std": r.final_std, "final_seeds": r.final_seeds, "sparse_fitness": r.sparse_fitness,
        "normalized_sparse": r.normalized_sparse, "over_random": r.over_random,
        "target_reached": None if r.target_reached is None else int(r.target_reached),
    }  # fmt: skip


def results_csv(rows: Sequence[TaskRow]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {
                k: "" if v is None else v
                for k, v in r.model_dump(include=set(RESULT_COLUMNS)).items()
            }
        )
    return buf.getvalue()


def results_markdown(suite: Suite, rows: Sequence[TaskRow], batch_path: Path | None = None) -> str:
    lines = [f"# Batch results: {suite.name}", ""]
    if batch_path is not None:
        lines += [f"Batch directory: `{batch_path}`", ""]
    lines += [
        "| task | env | status | chosen reward, screening seed | chosen reward, final seeds (mean ± std) | target | env-reward "
        "baseline | sparse-fitness baseline | random | normalized vs env reward | normalized vs "
        "sparse fitness | over random | iterations | tokens | cost ($) | wall |",
        "|---|---|---|---:|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.task} | {r.env_id} | {r.status} | {_num(r.best_fitness)} | {_spread(r)} "
            f"| {_reached(r)} | {_num(r.baseline_fitness)} | {_num(r.sparse_fitness)} "
            f"| {_num(r.random_fitness)} | {_num(r.normalized, 2)} | {_num(r.normalized_sparse, 2)} "
            f"| {_num(r.over_random)} | {r.iterations} | {r.tokens:,} | {r.cost:.4f} | {_duration(r.wall_s)} |"
        )
    for label, values in (
        ("env-reward baseline", [r.normalized for r in rows if r.normalized is not None]),
        (
            "sparse-fitness baseline",
            [r.normalized_sparse for r in rows if r.normalized_sparse is not None],
        ),
    ):
        if values:
            lines += ["", f"Mean normalized score against the {label} over {len(values)} task(s): "
                      f"{np.mean(values):.2f} (median {np.median(values):.2f})."]  # fmt: skip
    lines += [
        "",
        "normalized = (ours - random) / (baseline - random), named by its baseline: 0 is a "
        "uniformly random policy, 1 the same algorithm and budget trained on the env's own reward "
        "(env-reward baseline) or on the task fitness itself used as a sparse reward "
        "(sparse-fitness baseline). `over random` is ours - random in fitness units. `ours` is "
        "the mean over the final seeds when the best rewards were retrained (the best reward is "
        "chosen by that mean among the top candidates); else the best candidate's single-seed "
        "fitness, which is the best of several evaluations and so biased upward.",
    ]
    notes = [(r.task, r.reason or r.note) for r in rows if r.reason or r.note]
    if notes:
        lines += ["", "## Notes", ""] + [f"- **{task}**: {text}" for task, text in notes]
    return "\n".join(lines) + "\n"


def _spread(r: TaskRow) -> str:
    if r.final_fitness is None:
        return "–"
    n = f" ({r.final_seeds})" if r.final_seeds else ""
    return f"{r.final_fitness:.3f} ± {r.final_std or 0.0:.3f}{n}"


def _reached(r: TaskRow) -> str:
    return "–" if r.target_reached is None else ("yes" if r.target_reached else "no")


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
