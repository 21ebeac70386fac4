"""What the loop remembers about each candidate (`iter_<i>/cand_<j>/candidate.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from autoreward.store.atomic import atomic_write_json, read_json

CandidateStatus = Literal[
    "screened",  # passed screening, waiting to be trained (screen.json; never a final status)
    "failed_check",  # no valid code after repairs
    "duplicate",  # same normalised code as an earlier candidate
    "trained",  # trained and evaluated: has a fitness
    "failed_train",  # training or evaluation failed (reason says why)
    "pruned",  # stopped at the first successive-halving rung
]


class RungRival(BaseModel):
    """Another candidate's score at the same successive-halving rung."""

    index: int
    fitness: float | None
    fitness_se: float | None = None
    env_return: float | None = None
    kept: bool


class RungOutcome(BaseModel):
    """How a candidate did at the first successive-halving rung, against its rivals there."""

    steps: int
    fitness: float | None
    fitness_se: float | None = None
    env_return: float | None = None
    kept: bool
    why: str
    rivals: list[RungRival] = []


class CandidateRecord(BaseModel):
    iteration: int
    index: int
    status: CandidateStatus
    reason: str = ""
    code_hash: str = ""
    fitness: float | None = None
    env_return: float | None = None
    steps: int = 0
    ranking_rho: float | None = None
    critic_verdict: str | None = None
    critic_reviews: int = 0
    revised: list[str] = []
    rung: RungOutcome | None = None
    """The first successive-halving rung (None when halving did not run)."""
    seed_fitness: list[float | None] = []
    """Per selection seed (`selection_seeds` > 1), the fitness; `fitness` is their mean."""

    @property
    def key(self) -> str:
        return f"iter {self.iteration} cand {self.index}"

    def save(self, cand_dir: Path) -> None:
        atomic_write_json(cand_dir / "candidate.json", self.model_dump(mode="json"))

    @classmethod
    def load(cls, cand_dir: Path) -> CandidateRecord | None:
        data = read_json(cand_dir / "candidate.json")
        return None if data is None else cls.model_validate(data)
