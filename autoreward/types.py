"""Type aliases for what flows between the rooms."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np

State: TypeAlias = dict[str, np.ndarray]
"""Named state fields; every array has leading dimension N (number of parallel envs)."""

RewardTerms: TypeAlias = dict[str, np.ndarray]
"""Per-component reward arrays, each of shape (N,); they sum to the total."""

RewardOutput: TypeAlias = tuple[np.ndarray, RewardTerms]

RewardFn: TypeAlias = Callable[[State, np.ndarray, State], RewardOutput]
"""compute_reward(state, action, next_state) -> (total, terms)."""
