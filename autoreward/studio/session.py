"""What the studio's "Next iteration" does: the person's turn saved exactly where
`autoreward refine` saves it (`refine.save_turn`: `iter_<i>/feedback.json` and a line of
`refine.jsonl`), then the next iteration run in the background as `autoreward run --resume
DIR --iterations i+2`, the same command `refine` runs. Its output goes to `studio.log` in the
run directory; the page follows its progress through `events.jsonl` (see `progress.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from autoreward.errors import ConfigError
from autoreward.loop.refine import (
    FeedbackTurn,
    HumanEdit,
    check_can_continue,
    last_finished,
    make_turn,
    rankable_indices,
    save_turn,
)
from autoreward.report.data import load_run
from autoreward.store.rundir import RunDir

LOG_NAME = "studio.log"


class TurnRequest(BaseModel):
    """The body of POST /runs/{id}/next: what the person did on the page."""

    iteration: int = Field(description="The iteration the page showed as the last finished.")
    text: str = Field(default="", max_length=20_000)
    ranking: list[int] = Field(default_factory=list, max_length=256)
    ranks: list[int] = Field(default_factory=list, max_length=256)
    preferred: int | None = None
    notes: dict[int, str] = Field(default_factory=dict)
    edits: list[HumanEdit] = Field(default_factory=list, max_length=16)


@dataclass
class Job:
    """One background `run --resume` of a run."""

    run_dir: Path
    target: int
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.time)

    @property
    def state(self) -> str:
        rc = self.process.poll()
        if rc is None:
            return "running"
        return "finished" if rc == 0 else "failed"

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "target_iterations": self.target,
            "returncode": self.process.poll(),
            "started": self.started,
            "log": LOG_NAME,
            "new_iteration": (self.run_dir / f"iter_{self.target - 1}" / "done.json").exists(),
        }


class Jobs:
    """At most one background iteration per run; `model` / `api_base` as `refine`'s options."""

    def __init__(self, model: str | None = None, api_base: str | None = None) -> None:
        self.model, self.api_base = model, api_base
        self._jobs: dict[Path, Job] = {}
        self._lock = threading.Lock()

    def get(self, run_dir: Path) -> Job | None:
        with self._lock:
            return self._jobs.get(run_dir)

    def running(self, run_dir: Path) -> bool:
        job = self.get(run_dir)
        return job is not None and job.state == "running"

    def next_iteration(self, run_dir: Path, request: TurnRequest) -> tuple[FeedbackTurn, Job]:
        """Check the turn, save it, start the next iteration; ConfigError (saving nothing) when
        the run cannot continue or the turn does not fit the run."""
        with self._lock:
            current = self._jobs.get(run_dir)
            if current is not None and current.state == "running":
                raise ConfigError(
                    f"an iteration of {run_dir.name} is already running",
                    hint="wait for it to finish: the page shows its progress",
                )
            run = RunDir.open(run_dir)
            view = load_run(run.path)
            it = last_finished(view)
            if request.iteration != it.index:
                raise ConfigError(
                    f"the page showed iteration {request.iteration} as the last finished, "
                    f"but it is iteration {it.index} now",
                    hint="reload the page and give your feedback again",
                )
            _check_ranking(request, rankable_indices(it), it.index)
            check_can_continue(run, self.model, self.api_base)
            turn = make_turn(
                view,
                it,
                request.text,
                request.ranking,
                ranks=request.ranks,
                preferred=request.preferred,
                notes=request.notes,
                edits=request.edits,
                source="studio",
            )
            turn.turn = _turns_so_far(run) + 1
            save_turn(run, turn)
            job = Job(run.path, it.index + 2, self._start(run.path, it.index + 2))
            self._jobs[run_dir] = job
            return turn, job

    def _start(self, run_dir: Path, iterations: int) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            "-m",
            "autoreward.cli",
            "run",
            "--resume",
            str(run_dir),
            "--iterations",
            str(iterations),
        ]
        if self.model is not None:
            argv += ["--model", self.model]
        if self.api_base is not None:
            argv += ["--api-base", self.api_base]
        log = open(run_dir / LOG_NAME, "ab")  # the child keeps its own copy of the descriptor
        try:
            return subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=os.environ.copy(),
                start_new_session=True,
            )
        finally:
            log.close()

    def stop_all(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                if job.process.poll() is None:
                    job.process.terminate()


def _check_ranking(request: TurnRequest, rankable: list[int], iteration: int) -> None:
    hint = f"rank among iteration {iteration}'s trained candidates: " + (
        ", ".join(map(str, rankable)) or "(none)"
    )
    seen: set[int] = set()
    for j in request.ranking:
        if j not in rankable:
            raise ConfigError(f"candidate {j} of iteration {iteration} cannot be ranked", hint=hint)
        if j in seen:
            raise ConfigError(f"candidate {j} appears twice in the ranking", hint=hint)
        seen.add(j)


def _turns_so_far(run: RunDir) -> int:
    path = run.path / "refine.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
