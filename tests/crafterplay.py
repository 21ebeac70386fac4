"""Scripted Crafter play for the tests: a greedy wood collector that reads the semantic state."""

from __future__ import annotations

from typing import Any

import numpy as np

TREE = 6
MOVES = {(-1, 0): 1, (1, 0): 2, (0, -1): 3, (0, 1): 4}
DO = 5


def greedy_wood_action(state: dict[str, Any], step: int) -> int:
    """'do' when facing a tree; else walk to the nearest visible tree (alternating axes so a
    blocked move is not repeated forever); with no tree in view, walk right."""
    if state["facing_target"] == TREE:
        return DO
    trees = np.argwhere(np.asarray(state["local_view"]) == TREE)
    if trees.size == 0:
        return MOVES[(1, 0)]
    r, c = min(trees.tolist(), key=lambda rc: abs(rc[0] - 3) + abs(rc[1] - 4))
    dx, dy = c - 4, r - 3
    if abs(dx) + abs(dy) == 1:
        return MOVES[(dx, dy)]  # a tree blocks the move: this only turns to face it
    along_x = dx != 0 and (dy == 0 or step % 2 == 0)
    return MOVES[(int(np.sign(dx)), 0)] if along_x else MOVES[(0, int(np.sign(dy)))]
