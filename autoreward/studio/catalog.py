"""The runs and batches under the studio's folder, each known by an id.

A request names a run by its id only; the id is looked up in a listing built here from the
folder's own entries, so no path from a request is ever joined or followed. Files inside a
run are registered the same way (`FileIds`): the server names each file it offers, and a
request for an unknown id is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autoreward.report.batchdata import is_batch_dir, is_run_dir
from autoreward.report.data import finite_float
from autoreward.sandbox.untrusted import clean_text

MAX_SERVED_BYTES = 256 * 1024 * 1024
"""A file bigger than this is not served (a video is a few MB)."""


@dataclass(frozen=True)
class RunEntry:
    """One run directory the studio offers."""

    id: str
    path: Path
    batch: str | None
    env_id: str
    task: str
    status: str
    iterations: int
    best_fitness: float | None


def list_runs(root: Path) -> list[RunEntry]:
    """Run directories directly under `root` and the task runs of each batch directory there,
    newest first."""
    out: list[RunEntry] = []
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir(), key=lambda p: p.name, reverse=True):
        if folder.is_symlink() or not folder.is_dir():
            continue
        if is_run_dir(folder):
            out.append(_entry(folder.name, folder, None))
        elif is_batch_dir(folder):
            for task in _batch_runs(folder):
                out.append(_entry(f"{folder.name}~{task.name}", task, folder.name))
    return out


def find_run(root: Path, run_id: str) -> RunEntry | None:
    """The run whose id is `run_id` among those listed, else None."""
    return next((r for r in list_runs(root) if r.id == run_id), None)


def _batch_runs(batch: Path) -> list[Path]:
    tasks = batch / "tasks"
    if not tasks.is_dir():
        return []
    return [
        p for p in sorted(tasks.iterdir()) if p.is_dir() and not p.is_symlink() and is_run_dir(p)
    ]


def _entry(run_id: str, folder: Path, batch: str | None) -> RunEntry:
    config = _config(folder)
    iterations = sorted(
        int(p.name[5:]) for p in folder.glob("iter_*") if p.name[5:].isdigit() and p.is_dir()
    )
    best = _json(folder / "best" / "candidate.json")
    if (folder / "result.json").exists():
        status = "finished"
    elif iterations and not (folder / f"iter_{iterations[-1]}" / "done.json").exists():
        status = "unfinished"
    else:
        status = "stopped" if iterations else "not started"
    return RunEntry(
        id=run_id,
        path=folder,
        batch=batch,
        env_id=clean_text(config.get("env_id") or "?", 200),
        task=clean_text(config.get("task") or "", 500),
        status=status,
        iterations=len(iterations),
        best_fitness=finite_float((best or {}).get("fitness")),
    )


def _config(folder: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# =========================================================================== files by id


class FileIds:
    """Files the pages offer, by an opaque id: `register` is called by the server with paths
    it built from a run's layout; `open` serves only registered, regular files inside their
    run directory, never through a symlink."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._files: dict[str, tuple[Path, Path]] = {}
        self._lock = threading.Lock()

    def register(self, run_dir: Path, path: Path) -> str:
        digest = hashlib.sha256(f"{self._secret}\0{path}".encode()).hexdigest()[:24]
        with self._lock:
            self._files[digest] = (run_dir, path)
        return digest

    def read(self, file_id: str) -> tuple[bytes, str] | None:
        """(bytes, media type) of a registered file, or None when the id is unknown or the file
        is not a regular file inside its run (a symlink, a folder, a device, too big)."""
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            return None
        run_dir, path = found
        try:
            parent = path.parent.resolve(strict=True)
            parent.relative_to(run_dir.resolve(strict=True))
        except (OSError, ValueError):
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SERVED_BYTES:
                return None
            data = fh.read(MAX_SERVED_BYTES + 1)
        if len(data) > MAX_SERVED_BYTES:
            return None
        return data, _MEDIA.get(path.suffix, "application/octet-stream")


_MEDIA = {".mp4": "video/mp4", ".png": "image/png", ".gif": "image/gif"}
