"""Saving only the filled part of an off-policy replay buffer, for continuing a run.

SB3's `save_replay_buffer` pickles the whole preallocated buffer: 1e6 transitions of
Humanoid are ~3 GB even after a 50k-step rung. Here every array whose first dimension is the
buffer capacity (observations, actions, rewards, dones, timeouts, ...; also inside dicts) is
stored up to the fill level, and written back into the fresh buffer of the resumed model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

MAX_REPLAY_MB = 512
"""A larger filled buffer is not saved: the continuation then starts with an empty one."""
META_KEY = "__meta__"


def _arrays(buffer: Any) -> dict[str, np.ndarray]:
    """The buffer's per-transition arrays by name (`name` or `name.key` for dict entries)."""
    size = buffer.buffer_size
    out: dict[str, np.ndarray] = {}
    for name, value in vars(buffer).items():
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == size:
            out[name] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, np.ndarray) and item.ndim >= 1 and item.shape[0] == size:
                    out[f"{name}.{key}"] = item
    return out


def save_filled_replay(buffer: Any, path: str | Path, max_mb: float = MAX_REPLAY_MB) -> bool:
    """Write the filled part of `buffer` to `path` (npz); False (nothing written) when it
    would exceed `max_mb`."""
    filled = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {name: value[:filled] for name, value in _arrays(buffer).items()}
    if sum(a.nbytes for a in arrays.values()) > max_mb * 1024 * 1024:
        return False
    meta = {
        "pos": int(buffer.pos),
        "full": bool(buffer.full),
        "filled": int(filled),
        "size": int(buffer.buffer_size),
    }
    with open(path, "wb") as fh:
        np.savez(fh, **arrays, **{META_KEY: np.array(json.dumps(meta))})  # type: ignore[arg-type]
    return True


def load_filled_replay(buffer: Any, path: str | Path) -> int:
    """Copy a saved fill into `buffer` (same capacity and spaces); returns the transitions."""
    with np.load(path) as data:
        meta = json.loads(str(data[META_KEY]))
        if meta["size"] != buffer.buffer_size:
            raise ValueError(
                f"replay buffer capacity changed: saved {meta['size']}, now {buffer.buffer_size}"
            )
        targets = _arrays(buffer)
        for name in data.files:
            if name != META_KEY:
                targets[name][: meta["filled"]] = data[name]
    buffer.pos, buffer.full = meta["pos"], meta["full"]
    return int(meta["filled"])
