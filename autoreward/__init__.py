"""autoreward: LLM-written dense reward functions, checked, sandboxed and proven by training."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["RewardWrapper", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so `import autoreward` stays cheap (no torch / SB3 import).
    if name == "RewardWrapper":
        from autoreward.train.reward_wrapper import RewardWrapper

        return RewardWrapper
    raise AttributeError(name)
