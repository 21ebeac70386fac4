"""Reading a run directory (or a batch directory) into plain view objects for the report.

Every reader here tolerates what a real run leaves behind: a candidate that failed before
training has no train.json, a killed run has no result.json, a file cut by a kill does not
parse. Such gaps become `None` (and, for unreadable files, a note) and never an exception.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autoreward.report.notes import ReplayMarks, replay_marks
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import session_wall_time

VIDEO_NAME = "video.mp4"


@dataclass
class Loaded:
    """The JSON files of one folder, read leniently; `problems` names the unreadable ones."""

    folder: Path
    problems: list[str] = field(default_factory=list)

    def json(self, name: str) -> Any:
        path = self.folder / name
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            self.problems.append(f"{name} could not be read ({type(err).__name__}: {err})")
            return None

    def text(self, name: str) -> str | None:
        path = self.folder / name
        if not path.exists():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            self.problems.append(f"{name} could not be read ({type(err).__name__}: {err})")
            return None


@dataclass
class CandidateView:
    iteration: int
    index: int
    folder: Path
    record: CandidateRecord | None
    code: str | None
    check: dict[str, Any] | None
    critique: dict[str, Any] | None
    train: dict[str, Any] | None
    evaluation: dict[str, Any] | None
    stats: dict[str, Any] | None
    video: Path | None
    problems: list[str]

    @property
    def anchor(self) -> str:
        return f"iter-{self.iteration}-cand-{self.index}"

    @property
    def status(self) -> str:
        if self.record is not None:
            return self.record.status
        if self.check is not None and not self.check.get("ok", True):
            return "failed_check"
        return "pending"

    @property
    def fitness(self) -> float | None:
        if self.record is not None and self.record.fitness is not None:
            return self.record.fitness
        return _float(self.train.get("fitness")) if self.train else None

    @property
    def env_return(self) -> float | None:
        if self.record is not None and self.record.env_return is not None:
            return self.record.env_return
        return _float(self.train.get("env_return")) if self.train else None

    @property
    def steps(self) -> int:
        if self.record is not None and self.record.steps:
            return self.record.steps
        return int(self.train.get("steps") or 0) if self.train else 0

    @property
    def reason(self) -> str:
        if self.record is not None and self.record.reason:
            return self.record.reason
        if self.train and self.train.get("status") == "failed":
            return str(self.train.get("reason") or "")
        if self.check is not None and not self.check.get("ok", True):
            return str(self.check.get("error") or "")
        return ""

    @property
    def hacking(self) -> str | None:
        """The reward-hacking warning of training, when there is one."""
        if self.train and self.train.get("hacking_flag"):
            return str(self.train.get("hacking_reason") or "flagged")
        hacking = (self.stats or {}).get("hacking") or {}
        return str(hacking.get("reason")) if hacking.get("flagged") else None

    def curve(self) -> list[dict[str, Any]]:
        """Learning-curve points (step, fitness, generated_return, env_return)."""
        if self.train and self.train.get("curve"):
            return list(self.train["curve"])
        return list((self.stats or {}).get("checkpoints") or [])


@dataclass
class IterationView:
    index: int
    folder: Path
    candidates: list[CandidateView]
    analysis: str | None
    done: bool
    feedback: dict[str, Any] | None
    previous_best: CandidateView | None
    """The best candidate of all earlier iterations: what this iteration's designer was shown."""

    @property
    def anchor(self) -> str:
        return f"iter-{self.index}"

    @property
    def best(self) -> CandidateView | None:
        return _best_of(self.candidates)


@dataclass
class LLMRow:
    label: str
    calls: int = 0
    cached: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float = 0.0
    by_role: dict[str, int] = field(default_factory=dict)

    def add(self, call: dict[str, Any]) -> None:
        self.calls += 1
        role = str(call.get("role") or "?")
        self.by_role[role] = self.by_role.get(role, 0) + 1
        if call.get("error"):
            self.failed += 1
        elif call.get("cached"):
            self.cached += 1
        else:  # as `Usage`: only calls that reached a provider cost tokens and money
            self.tokens += int(call.get("prompt_tokens") or 0) + int(
                call.get("completion_tokens") or 0
            )
            self.cost += float(call.get("cost") or 0.0)


@dataclass
class RunView:
    path: Path
    config: dict[str, Any]
    iterations: list[IterationView]
    best: CandidateView | None
    final: dict[str, Any] | None
    result: dict[str, Any] | None
    llm_rows: list[LLMRow]
    llm_total: LLMRow
    models_used: list[str]
    wall_s: float | None
    problems: list[str]
    replays: ReplayMarks = field(default_factory=ReplayMarks)
    """Which LLM texts were answered by position in a replay (see `notes.py`)."""

    @property
    def env_id(self) -> str:
        return str(self.config.get("env_id") or "?")

    @property
    def task(self) -> str:
        return str(self.config.get("task") or "")

    def candidate(self, iteration: int, index: int) -> CandidateView | None:
        for it in self.iterations:
            if it.index == iteration:
                for c in it.candidates:
                    if c.index == index:
                        return c
        return None


# =========================================================================== run directory


def load_run(path: str | Path) -> RunView:
    """Everything the run report shows, read from the run directory alone."""
    root = Path(path)
    top = Loaded(root)
    config = _yaml(root / "config.yaml", top.problems)
    iterations: list[IterationView] = []
    best_so_far: CandidateView | None = None
    for i in _numbered(root, "iter_"):
        folder = root / f"iter_{i}"
        it_files = Loaded(folder)
        candidates = [
            load_candidate(folder / f"cand_{j}", i, j) for j in _numbered(folder, "cand_")
        ]
        iterations.append(
            IterationView(
                index=i,
                folder=folder,
                candidates=candidates,
                analysis=it_files.text("analysis.md"),
                done=(folder / "done.json").exists(),
                feedback=_dict(it_files.json("feedback.json")),
                previous_best=best_so_far,
            )
        )
        top.problems.extend(f"iter_{i}/{p}" for p in it_files.problems)
        best_so_far = _best_of([c for c in [best_so_far, *candidates] if c is not None])

    result = _dict(top.json("result.json"))
    best = _recorded_best(root, iterations, top) or best_so_far
    final = _dict(top.json("best/final.json")) or (result or {}).get("final")
    rows, total, models = _llm_usage(root / "llm" / "calls.jsonl", [it.index for it in iterations])
    if total.calls == 0 and result:  # no call log (e.g. an old run): the loop's own totals
        total.tokens, total.cost = int(result.get("tokens") or 0), float(result.get("cost") or 0.0)
    wall = _wall_time(root / "events.jsonl")
    if wall is None and result:
        wall = _float(result.get("wall_s"))
    return RunView(
        path=root,
        config=config,
        iterations=iterations,
        best=best,
        final=final,
        result=result,
        llm_rows=rows,
        llm_total=total,
        models_used=models,
        wall_s=wall,
        problems=top.problems,
        replays=replay_marks(root),
    )


def load_candidate(folder: Path, iteration: int, index: int) -> CandidateView:
    files = Loaded(folder)
    raw = files.json("candidate.json")
    record = None
    if raw is not None:
        try:
            record = CandidateRecord.model_validate(raw)
        except ValueError as err:
            files.problems.append(f"candidate.json does not match CandidateRecord: {err}")
    video = folder / VIDEO_NAME
    return CandidateView(
        iteration=iteration,
        index=index,
        folder=folder,
        record=record,
        code=files.text("reward.py"),
        check=_dict(files.json("check.json")),
        critique=_dict(files.json("critique.json")),
        train=_dict(files.json("train.json")),
        evaluation=_dict(files.json("eval.json")),
        stats=_dict(files.json("stats.json")),
        video=video if video.is_file() and video.stat().st_size > 0 else None,
        problems=files.problems,
    )


def _recorded_best(
    root: Path, iterations: list[IterationView], top: Loaded
) -> CandidateView | None:
    """The best the loop recorded in best/candidate.json, as a view of its candidate folder."""
    raw = _dict(top.json("best/candidate.json"))
    if not raw:
        return None
    i, j = raw.get("iteration"), raw.get("index")
    for it in iterations:
        if it.index == i:
            for c in it.candidates:
                if c.index == j:
                    return c
    return None


def _best_of(candidates: list[CandidateView]) -> CandidateView | None:
    # the loop's own rule (loop._best): highest fitness, then more steps, then earlier iteration
    trained = [c for c in candidates if c.status == "trained" and c.fitness is not None]
    if not trained:
        return None
    return max(trained, key=lambda c: (c.fitness, c.steps, -c.iteration))


def _llm_usage(path: Path, iterations: list[int]) -> tuple[list[LLMRow], LLMRow, list[str]]:
    rows = {i: LLMRow(f"iteration {i}") for i in iterations}
    other = LLMRow("outside iterations")
    total = LLMRow("total")
    models: list[str] = []
    for call in _jsonl(path):
        it = (call.get("meta") or {}).get("iteration")
        row = rows.get(it) if isinstance(it, int) else None
        if row is None and isinstance(it, int):
            row = rows[it] = LLMRow(f"iteration {it}")
        (row or other).add(call)
        total.add(call)
        model = call.get("model") or call.get("client_model")
        if model and not call.get("error") and model not in models:
            models.append(str(model))
    ordered = [rows[i] for i in sorted(rows)]
    if other.calls:
        ordered.append(other)
    return ordered, total, models


def _wall_time(path: Path) -> float | None:
    return session_wall_time(_jsonl(path))


# =========================================================================== small readers


def _numbered(folder: Path, prefix: str) -> list[int]:
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob(prefix + "*"):
        rest = p.name[len(prefix) :]
        if p.is_dir() and rest.isdigit():
            out.append(int(rest))
    return sorted(out)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        problems.append(f"config.yaml could not be read ({type(err).__name__})")
        return {}
    return data if isinstance(data, dict) else {}


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def finite_float(value: Any) -> float | None:
    """`value` as a finite float; None for missing, unparsable, NaN or infinite values."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
