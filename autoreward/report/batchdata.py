"""Reading a batch directory (results.csv / results.md and its task run directories) for the
batch report; lenient like `data.py`: unreadable files become notes, never exceptions."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from autoreward.report.data import Loaded


@dataclass
class BatchTask:
    name: str
    run_dir: Path | None
    report: Path | None


@dataclass
class BatchView:
    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    results_md: str | None
    tasks: list[BatchTask]
    problems: list[str]


def load_batch(path: str | Path) -> BatchView:
    root = Path(path)
    problems: list[str] = []
    columns: list[str] = []
    rows: list[dict[str, str]] = []
    csv_path = root / "results.csv"
    if csv_path.exists():
        try:
            with csv_path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                columns = list(reader.fieldnames or [])
                rows = [{k: (v or "") for k, v in r.items() if k is not None} for r in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            problems.append(f"results.csv could not be read ({type(err).__name__}: {err})")
    md = Loaded(root).text("results.md")
    tasks = []
    tasks_dir = root / "tasks"
    if tasks_dir.is_dir():
        for folder in sorted(p for p in tasks_dir.iterdir() if p.is_dir()):
            run_dir = _find_run_dir(folder)
            tasks.append(BatchTask(folder.name, run_dir, None))
    return BatchView(root, columns, rows, md, tasks, problems)


def _find_run_dir(folder: Path) -> Path | None:
    """A task folder is a run directory, or holds one (the newest wins)."""
    if (folder / "config.yaml").exists():
        return folder
    inner = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "config.yaml").exists())
    return inner[-1] if inner else None


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def is_batch_dir(path: Path) -> bool:
    return (
        (path / "results.csv").is_file()
        or (path / "results.md").is_file()
        or (path / "tasks").is_dir()
    )
