"""The run directory: `runs/<timestamp>-<slug>/` and what lives where inside it.

config.yaml            the run's RunConfig
events.jsonl           every step of the loop, one JSON object a line
llm/                   every prompt and answer (calls.jsonl, *.prompt.md, *.answer.md), cache/
iter_<i>/proposals.json
iter_<i>/cand_<j>/     reward.py, check.json, critique.json, train.json, eval.json,
                       stats.json, trajectories.json, episodes.npz, model.zip, video.mp4
iter_<i>/analysis.md   the analyzer's findings for the iteration
best/                  the best reward so far (reward.py, result.json) and the final seeds
report.html
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from autoreward.errors import ConfigError
from autoreward.store.atomic import append_jsonl, atomic_write_text, read_json
from autoreward.store.records import CandidateRecord


def slugify(text: str, max_len: int = 40) -> str:
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "run"


class RunDir:
    """Paths and small I/O helpers for one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, out_root: str | Path, env_id: str, task: str, config: dict[str, Any]) -> RunDir:
        if Path(out_root).exists() and not Path(out_root).is_dir():
            raise ConfigError(
                f"--out {out_root} is a file, not a directory",
                hint="run directories are created inside --out (default: runs/)",
            )
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(out_root) / f"{stamp}-{slugify(env_id)}-{slugify(task, 30)}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        path.mkdir(parents=True)
        run = cls(path)
        atomic_write_text(run.config_path, yaml.safe_dump(config, sort_keys=False))
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not run.config_path.exists():
            raise ConfigError(f"{path} {_what_it_is(run.path)}", hint=_RUN_DIR_HINT)
        return run

    # ------------------------------------------------------------------ layout
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def llm_dir(self) -> Path:
        return self.path / "llm"

    @property
    def cache_dir(self) -> Path:
        return self.llm_dir / "cache"

    @property
    def best_dir(self) -> Path:
        return self.path / "best"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    def iter_dir(self, i: int) -> Path:
        return self.path / f"iter_{i}"

    def cand_dir(self, i: int, j: int) -> Path:
        return self.iter_dir(i) / f"cand_{j}"

    def iterations(self) -> list[int]:
        found = [
            int(p.name.split("_")[1])
            for p in self.path.glob("iter_*")
            if p.name.split("_")[1].isdigit()
        ]
        return sorted(found)

    def candidate_records(self) -> list[CandidateRecord]:
        """Every candidate's record (`candidate.json`), by iteration then candidate index."""
        out = []
        for it in self.iterations():
            dirs = [d for d in self.iter_dir(it).glob("cand_*") if d.name[5:].isdigit()]
            for d in sorted(dirs, key=lambda d: int(d.name[5:])):
                rec = CandidateRecord.load(d)
                if rec is not None:
                    out.append(rec)
        return out

    # ------------------------------------------------------------------ I/O
    def load_config(self) -> dict[str, Any]:
        return yaml.safe_load(self.config_path.read_text(encoding="utf-8")) or {}

    def event(self, kind: str, **data: Any) -> None:
        append_jsonl(self.events_path, {"t": round(time.time(), 3), "event": kind, **data})

    def wall_time(self, now: float | None = None) -> float | None:
        """Wall time over every session of the run; see `session_wall_time`."""
        return session_wall_time(self.events(), now)

    def events(self) -> list[dict[str, Any]]:
        import json

        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a kill: ignore it
                    continue
        return out

    def read(self, rel: str | Path, default: Any = None) -> Any:
        return read_json(self.path / rel, default)


_RUN_DIR_HINT = "pass the folder `autoreward run` printed, e.g. runs/20260101-120000-cartpole-..."


def _what_it_is(path: Path) -> str:
    """Why `path` is not a run directory, naming what it is instead."""
    if not path.exists():
        return "does not exist"
    if not path.is_dir():
        return "is a file, not a run directory"
    if (path / "batch.yaml").is_file():
        tasks = (
            sorted(p.name for p in (path / "tasks").iterdir()) if (path / "tasks").is_dir() else []
        )
        where = (
            f" (its tasks' runs are under {path / 'tasks'}/: {', '.join(tasks)})" if tasks else ""
        )
        return f"is a batch directory, not a run directory{where}"
    if (path / "train.yaml").is_file() or (path / "reward" / "train.json").is_file():
        return "is the output folder of `autoreward train`, not a run directory"
    return "is not a run directory (no config.yaml)"


def session_wall_time(events: list[dict[str, Any]], now: float | None = None) -> float | None:
    """Wall time over every session of a run (a resumed run adds a session): each session spans
    from its run_start to its run_end, or to its last event when it was killed; the last session,
    still open, ends `now` when given. Time between a kill and its resume does not count."""
    total, start, last = 0.0, None, None
    for ev in events:
        t = ev.get("t")
        if not isinstance(t, (int, float)) or isinstance(t, bool):
            continue
        if ev.get("event") == "run_start":
            if start is not None and last is not None:
                total += last - start
            start = t
        elif ev.get("event") == "run_end" and start is not None:
            total += t - start
            start = None
        last = t
    if start is not None and last is not None:
        total += (now if now is not None else last) - start
    return total if total > 0 else None
