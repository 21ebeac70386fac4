"""The semantic state of a Crafter step: what the schema's `env:` fields and the policy read.

Everything is taken from the area the agent itself sees (the 9x7 cells around the player),
never from the rest of the 64x64 map, so a reward cannot use knowledge the agent lacks.
The view is laid out as an image: `view[r, c]` is the cell at x offset `c - 4`, y offset
`r - 3` from the player (y grows downwards, as `move_down` does); the player is at [3, 4].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoreward.envs.crafter import internals
from autoreward.envs.crafter.tables import (
    ACHIEVEMENTS,
    CREATURE_IDS,
    DISTANCE_TARGETS,
    ITEMS,
    MATERIAL_IDS,
    N_IDS,
    NOT_VISIBLE,
    VIEW_GRID,
    VITALS,
)

_HALF_X, _HALF_Y = VIEW_GRID[0] // 2, VIEW_GRID[1] // 2
_ROWS, _COLS = VIEW_GRID[1], VIEW_GRID[0]
_ys, _xs = np.mgrid[-_HALF_Y : _HALF_Y + 1, -_HALF_X : _HALF_X + 1]
MANHATTAN = (np.abs(_xs) + np.abs(_ys)).astype(np.float64)
"""Grid steps from the player to each cell of the view, shape (7, 9)."""

_TARGET_IDS = {name: MATERIAL_IDS.get(name, CREATURE_IDS.get(name)) for name in DISTANCE_TARGETS}
_ON_TERRAIN = {name: name in MATERIAL_IDS for name in DISTANCE_TARGETS}
_EYE = np.eye(N_IDS, dtype=np.float32)

VALUE_NAMES: tuple[str, ...] = (
    *VITALS,
    *(f"inv_{item}" for item in ITEMS),
    *(f"ach_{name}" for name in ACHIEVEMENTS),
    "achievements_unlocked", "player_pos", "facing", "facing_target", "sleeping", "daylight",
    "local_view", *(f"dist_{name}" for name in DISTANCE_TARGETS), "near_table", "near_furnace",
)  # fmt: skip
"""Every key `state_values()` returns (the names an `env:NAME` schema source may use)."""

POLICY_OBS_SIZE = _ROWS * _COLS * N_IDS + len(VITALS) + len(ITEMS) + 4 + 2
"""One-hot view, inventory / 9, facing one-hot (left, right, up, down), daylight, sleeping."""

_FACING_INDEX = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}


class SemanticView:
    """The local view of one Crafter game, recomputed once per step on demand."""

    def __init__(self, game: internals.Game) -> None:
        self.game = game
        self._type_ids = internals.object_type_ids(game)
        self._stamp: tuple[int, int] | None = None
        self._terrain = np.zeros((_ROWS, _COLS), dtype=np.int64)
        self._full = np.zeros((_ROWS, _COLS), dtype=np.int64)
        self._episode = 0

    def new_episode(self) -> None:
        self._episode += 1
        self._stamp = None

    def layers(self) -> tuple[np.ndarray, np.ndarray]:
        """(terrain ids only, terrain with objects drawn over it), each (7, 9)."""
        stamp = (self._episode, internals.episode_step(self.game))
        if stamp != self._stamp:
            self._read()
            self._stamp = stamp
        return self._terrain, self._full

    def _read(self) -> None:
        px, py = (int(v) for v in internals.player(self.game).pos)
        mat, obj = internals.material_map(self.game), internals.object_map(self.game)
        width, height = mat.shape
        x0, x1 = max(px - _HALF_X, 0), min(px + _HALF_X + 1, width)
        y0, y1 = max(py - _HALF_Y, 0), min(py + _HALF_Y + 1, height)
        cols = slice(x0 - (px - _HALF_X), x1 - (px - _HALF_X))
        rows = slice(y0 - (py - _HALF_Y), y1 - (py - _HALF_Y))
        terrain = np.zeros((_ROWS, _COLS), dtype=np.int64)  # 0 = outside the world
        terrain[rows, cols] = mat[x0:x1, y0:y1].T
        full = terrain.copy()
        slots = obj[x0:x1, y0:y1].T
        if slots.any():
            objs = internals.objects(self.game)
            sub = full[rows, cols]
            for r, c in zip(*np.nonzero(slots), strict=True):
                thing = objs[slots[r, c]]
                if thing is not None:
                    sub[r, c] = self._type_ids[type(thing)]
        self._terrain, self._full = terrain, full


def state_values(view: SemanticView) -> dict[str, Any]:
    """The named semantic values of the current step (see `VALUE_NAMES`)."""
    game = view.game
    player = internals.player(game)
    inv, ach = player.inventory, player.achievements
    terrain, full = view.layers()
    out: dict[str, Any] = {name: float(inv[name]) for name in VITALS}
    out.update({f"inv_{item}": float(inv[item]) for item in ITEMS})
    out.update({f"ach_{name}": float(ach[name]) for name in ACHIEVEMENTS})
    out["achievements_unlocked"] = float(sum(ach[name] > 0 for name in ACHIEVEMENTS))
    out["player_pos"] = np.asarray(player.pos, dtype=np.float64)
    facing = np.asarray(player.facing, dtype=np.int64)
    out["facing"] = facing.astype(np.float64)
    out["facing_target"] = float(full[_HALF_Y + facing[1], _HALF_X + facing[0]])
    out["sleeping"] = float(player.sleeping)
    out["daylight"] = internals.daylight(game)
    out["local_view"] = full.astype(np.float64)
    for name in DISTANCE_TARGETS:
        layer = terrain if _ON_TERRAIN[name] else full
        mask = layer == _TARGET_IDS[name]
        out[f"dist_{name}"] = float(MANHATTAN[mask].min()) if mask.any() else NOT_VISIBLE
    near = terrain[_HALF_Y - 1 : _HALF_Y + 2, _HALF_X - 1 : _HALF_X + 2]
    out["near_table"] = float((near == MATERIAL_IDS["table"]).any())
    out["near_furnace"] = float((near == MATERIAL_IDS["furnace"]).any())
    return out


def policy_observation(view: SemanticView) -> np.ndarray:
    """The default policy input: one-hot view, inventory / 9, facing, daylight, sleeping."""
    game = view.game
    player = internals.player(game)
    _, full = view.layers()
    inv = player.inventory
    out = np.empty(POLICY_OBS_SIZE, dtype=np.float32)
    n_view = _ROWS * _COLS * N_IDS
    out[:n_view] = _EYE[full].ravel()
    k = n_view
    for name in (*VITALS, *ITEMS):
        out[k] = inv[name] / 9.0
        k += 1
    out[k : k + 4] = 0.0
    dx, dy = (int(v) for v in player.facing)
    out[k + _FACING_INDEX[(dx, dy)]] = 1.0
    out[k + 4] = internals.daylight(game)
    out[k + 5] = float(player.sleeping)
    return out
