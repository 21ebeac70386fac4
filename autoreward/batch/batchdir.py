"""`BatchDir`: the layout, saved suite and options, and task state of one batch directory."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from autoreward.batch.suites import Suite, SuiteTask
from autoreward.errors import ConfigError
from autoreward.store.atomic import append_jsonl, atomic_write_json, atomic_write_text, read_json
from autoreward.store.rundir import slugify

# =========================================================================== the batch directory


class BatchDir:
    """Paths, the saved suite and options, and the task state of one batch directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def create(cls, out_root: str | Path, suite: Suite, options: dict[str, Any]) -> BatchDir:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(out_root) / f"batch-{stamp}-{slugify(suite.name, 30)}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        path.mkdir(parents=True)
        batch = cls(path)
        saved = {
            "suite": suite.model_dump(mode="json", exclude_none=True),
            "source": suite.source,
            "options": options,
        }
        atomic_write_text(batch.spec_path, yaml.safe_dump(saved, sort_keys=False))
        atomic_write_json(
            batch.state_path, {"suite": suite.name, "created": time.time(), "tasks": {}}
        )
        return batch

    @classmethod
    def open(cls, path: str | Path) -> BatchDir:
        batch = cls(path)
        if not batch.spec_path.exists():
            raise ConfigError(
                f"{path} is not a batch directory (no batch.yaml)",
                hint="pass the folder `autoreward batch` printed, e.g. runs/batch-20260101-120000-classic",
            )
        return batch

    @property
    def spec_path(self) -> Path:
        return self.path / "batch.yaml"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    def task_dir(self, name: str) -> Path:
        return self.path / "tasks" / name

    def reference_dir(self, name: str) -> Path:
        return self.path / "reference" / name

    def load_spec(self) -> tuple[Suite, dict[str, Any]]:
        data = yaml.safe_load(self.spec_path.read_text(encoding="utf-8")) or {}
        suite = Suite.model_validate(data["suite"]).with_source(
            str(data.get("source") or self.spec_path)
        )
        return suite, dict(data.get("options") or {})

    def save_options(self, options: dict[str, Any]) -> None:
        data = yaml.safe_load(self.spec_path.read_text(encoding="utf-8")) or {}
        data["options"] = options
        atomic_write_text(self.spec_path, yaml.safe_dump(data, sort_keys=False))

    def add_tasks(self, tasks: list[SuiteTask]) -> None:
        data = yaml.safe_load(self.spec_path.read_text(encoding="utf-8")) or {}
        data["suite"]["tasks"].extend(t.model_dump(mode="json", exclude_none=True) for t in tasks)
        atomic_write_text(self.spec_path, yaml.safe_dump(data, sort_keys=False))

    def state(self) -> dict[str, Any]:
        return read_json(self.state_path) or {"tasks": {}}

    def update_task(self, name: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            state = self.state()
            entry = state.setdefault("tasks", {}).setdefault(
                name, {"status": "pending", "attempts": 0}
            )
            entry.update(fields)
            atomic_write_json(self.state_path, state)
            return dict(entry)

    def event(self, kind: str, **data: Any) -> None:
        append_jsonl(
            self.path / "events.jsonl", {"t": round(time.time(), 3), "event": kind, **data}
        )
