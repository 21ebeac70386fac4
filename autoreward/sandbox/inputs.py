"""What reward code is handed: private, read-only copies with no path back to their source.

SB3 hands the wrapper actions that can be views of torch tensors (`action.base` was a
Tensor in discrete-action training, and a Tensor's storage reaches files); the stacked
states are reused by the trainer. Every array a reward sees is a fresh copy that owns its
memory (`.base` is None) and is marked read-only, so an in-place write is an error at once
instead of silently poisoning the trainer's data. (Inside the container this is hygiene,
not the boundary: code with unrestricted Python could flip the flag back, but the copies
lead nowhere.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from autoreward.types import State


def frozen_array(value: Any) -> np.ndarray:
    """A read-only copy of `value` that owns its data (plain ndarray, never a subclass)."""
    arr = np.array(value, copy=True, subok=False)
    arr.setflags(write=False)
    return arr


def frozen_copy(state: Mapping[str, Any]) -> State:
    """A new dict of `frozen_array` copies."""
    return {str(key): frozen_array(value) for key, value in state.items()}
