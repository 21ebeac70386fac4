"""What a call returns (`Completion`), what a provider hands back (`Answer`), and `Usage`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ReplayMatch = Literal["exact", "position"]


class Answer(BaseModel):
    """A provider's raw answer, before caching, logging and accounting."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    replay: ReplayMatch | None = Field(
        default=None, description="How a replay found the answer (see `replay.py`)."
    )


class Completion(BaseModel):
    """One answered prompt, as the agents see it."""

    text: str
    model: str = Field(description="The model that wrote the answer (as the provider names it).")
    role: str = Field(description="Who asked: designer, critic, analyzer, repair, ...")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = Field(
        0.0, description="USD paid for this call; 0 when cached, replayed or unknown."
    )
    cached: bool = False
    latency_s: float = 0.0
    prompt_hash: str = ""
    sample_index: int = 0
    replay: ReplayMatch | None = Field(
        default=None,
        description="exact: the recorded prompt was identical; position: same place in the run "
        "and same templates, different data (training numbers).",
    )


class Usage(BaseModel):
    """Running totals of a client. Tokens and cost count only calls that reached a provider;
    `cached_calls` answered from the on-disk cache paid nothing."""

    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    replayed_exact: int = 0
    replayed_by_position: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, completion: Completion) -> None:
        self.calls += 1
        if completion.replay == "exact":
            self.replayed_exact += 1
        elif completion.replay == "position":
            self.replayed_by_position += 1
        if completion.cached:
            self.cached_calls += 1
            return
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.cost += completion.cost
