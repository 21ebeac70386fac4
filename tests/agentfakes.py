"""Test doubles for the agents: a scripted chat client and a small in-process reward check."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.errors import LLMError, RewardCodeError
from autoreward.llm.completion import Completion
from autoreward.sandbox.loader import load_reward_fn

FIXTURES = Path(__file__).parent / "fixtures" / "llm"


def answer(name: str) -> str:
    """A scripted answer from `tests/fixtures/llm/<name>.md`."""
    return (FIXTURES / f"{name}.md").read_text(encoding="utf-8")


@dataclass
class Call:
    messages: list[dict[str, Any]]
    role: str
    temperature: float | None
    sample_index: int
    meta: dict[str, Any]

    @property
    def user(self) -> str:
        return self.messages[-1]["content"]

    @property
    def position(self) -> dict[str, Any]:
        """The meta without the template and inputs stamp (see `agents.base.call_meta`)."""
        return {k: v for k, v in self.meta.items() if k not in STAMP_KEYS}

    @property
    def templates(self) -> set[str]:
        return set(self.meta["templates"])


STAMP_KEYS = {"templates", "template_hash", "inputs_hash"}


class ScriptedClient:
    """Answers `complete` from queues keyed by (role, sample_index), falling back to the
    role's queue (key (role, None)). An answer that is an exception instance is raised."""

    def __init__(self, script: dict[tuple[str, int | None], list[str | Exception]]) -> None:
        self.queues: dict[tuple[str, int | None], deque[str | Exception]] = defaultdict(deque)
        for key, answers in script.items():
            self.queues[key].extend(answers)
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str,
        temperature: float | None = None,
        sample_index: int = 0,
        meta: dict[str, Any] | None = None,
    ) -> Completion:
        with self._lock:
            self.calls.append(Call(messages, role, temperature, sample_index, dict(meta or {})))
            queue = self.queues.get((role, sample_index)) or self.queues.get((role, None))
            if not queue:
                raise AssertionError(
                    f"no scripted answer left for role={role} sample={sample_index}"
                )
            text = queue.popleft()
        if isinstance(text, Exception):
            raise text
        return Completion(
            text=text,
            model="scripted",
            role=role,
            prompt_tokens=100,
            completion_tokens=20,
            cost=0.002,
            sample_index=sample_index,
        )

    def complete_many(
        self,
        messages: list[dict[str, Any]],
        k: int,
        *,
        role: str,
        temperature: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> list[Completion]:
        return [
            self.complete(messages, role=role, temperature=temperature, sample_index=i, meta=meta)
            for i in range(k)
        ]

    def by_role(self, role: str) -> list[Call]:
        return [c for c in self.calls if c.role == role]


def llm_down() -> LLMError:
    return LLMError("openai/fake-model: connection refused after 5 attempts")


N = 8
CARTPOLE_FIELDS = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")


def cartpole_batch(
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    scale = {
        "cart_position": 1.0,
        "cart_velocity": 1.0,
        "pole_angle": 0.1,
        "pole_angular_velocity": 1.0,
    }
    state = {k: rng.normal(0.0, scale[k], N) for k in CARTPOLE_FIELDS}
    next_state = {k: v + rng.normal(0.0, 0.02, N) for k, v in state.items()}
    return state, rng.integers(0, 2, N), next_state


def cartpole_check(code: str) -> str | None:
    """A small stand-in for the loop's check (validation + dry run): None or the error text."""
    try:
        fn = load_reward_fn(code)
    except RewardCodeError as err:
        return str(err)
    state, action, next_state = cartpole_batch()
    try:
        total, terms = fn(state, action, next_state)
    except Exception as err:  # noqa: BLE001 - the dry run reports whatever the code raised
        return f"dry run failed: {type(err).__name__}: {err}"
    if np.shape(total) != (N,):
        return f"dry run failed: the total has shape {np.shape(total)}; expected ({N},), one value per env"
    bad = [k for k, v in terms.items() if np.shape(v) != (N,)]
    if bad:
        return f"dry run failed: components {bad} do not have shape ({N},)"
    if not np.allclose(sum(terms.values()), total):
        return "dry run failed: the components do not sum to the total"
    return None
