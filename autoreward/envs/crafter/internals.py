"""Everything autoreward reads from Crafter's private attributes, in one place.

Crafter (`crafter==1.8.3`, pinned in pyproject.toml) keeps the world, the player and its
renderers in underscore attributes of `crafter.Env`. Only this module touches them; the
rest of the Crafter integration goes through the functions below. `check_game` verifies,
once per env, that every attribute is where 1.8.3 keeps it and that the id tables match the
ones the schema documents, and fails with one clear message when a Crafter upgrade moved
something (a test runs it too).
"""

from __future__ import annotations

import collections
from importlib import metadata
from typing import Any

import crafter
import numpy as np

from autoreward.envs.crafter.tables import (
    ACHIEVEMENTS,
    ACTIONS,
    CREATURE_IDS,
    INVENTORY,
    MATERIAL_IDS,
    VIEW_GRID,
)
from autoreward.errors import ConfigError

SUPPORTED_VERSION = "1.8.3"


class CrafterInternalsError(ConfigError):
    """Crafter's private layout is not the one this integration was written for."""


class _OrderedSet(dict):  # type: ignore[type-arg]
    """The `set` interface Crafter's chunks use (add, remove, iterate), in insertion order."""

    def add(self, item: Any) -> None:
        self[item] = None

    def remove(self, item: Any) -> None:
        del self[item]


class _SkippedSemanticMap:
    """Stands in for Crafter's whole-map semantic view, which `step` recomputes for its info
    dict (about a tenth of a step) and nothing here reads; the original stays reachable."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self._obj_ids = original._obj_ids

    def __call__(self) -> None:
        return None


class Game(crafter.Env):  # type: ignore[misc]
    """`crafter.Env` that renders its image observation only when asked to, and whose
    episodes are reproducible from their seed.

    Crafter renders a frame inside every `reset` and `step` (about half the cost of a step);
    with `pixels=False` that frame is skipped, and `render()` still draws one on demand.
    Crafter keeps each chunk's creatures in a `set`, so which one despawns depends on memory
    addresses; an insertion-ordered set makes the same seed and actions replay exactly. The
    whole-map semantic view in Crafter's info dict is not computed.
    """

    def __init__(self, *, pixels: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pixels = pixels
        world = self._world
        reset_world = world.reset

        def reset_with_ordered_chunks(seed: int | None = None) -> None:
            reset_world(seed=seed)
            world._chunks = collections.defaultdict(_OrderedSet)

        world.reset = reset_with_ordered_chunks
        semantic_map: Any = getattr(self, "_sem_view", None)
        if hasattr(semantic_map, "_obj_ids"):  # else check_game reports it
            self._sem_view = _SkippedSemanticMap(semantic_map)

    def _obs(self) -> np.ndarray | None:  # overrides Crafter's per-step render
        return self.render() if self.pixels else None


# =========================================================================== accessors


def player(game: Game) -> Any:
    """The `crafter.objects.Player` of the current episode (None before the first reset)."""
    return game._player


def material_map(game: Game) -> np.ndarray:
    """The world's material ids, indexed `[x, y]` (a live view: do not write to it)."""
    return game._world._mat_map  # type: ignore[no-any-return]


def object_map(game: Game) -> np.ndarray:
    """Per cell, an index into `objects(game)`; 0 where no object stands."""
    return game._world._obj_map  # type: ignore[no-any-return]


def objects(game: Game) -> list[Any]:
    """The world's object slots (index 0 and removed objects are None)."""
    return game._world._objects  # type: ignore[no-any-return]


def object_type_ids(game: Game) -> dict[type, int]:
    """Semantic id of each object class (Player, Cow, Zombie, Skeleton, Arrow, Plant)."""
    return dict(game._sem_view._obj_ids)


def material_ids(game: Game) -> dict[str | None, int]:
    """Semantic id of each material name (None, the outside of the world, is 0)."""
    return dict(game._world._mat_ids)


def whole_semantic_map(game: Game) -> np.ndarray:
    """Crafter's own semantic map of the whole world, `[x, y]` (for cross-checks in tests;
    the agent sees only its local view)."""
    view = game._sem_view
    return np.asarray((view.original if isinstance(view, _SkippedSemanticMap) else view)())


def view_grid(game: Game) -> tuple[int, int]:
    """Cells the agent sees around itself, (along x, along y)."""
    grid = game._local_view._grid
    return int(grid[0]), int(grid[1])


def daylight(game: Game) -> float:
    """Light level of the current step, 0 (night) .. 1 (day)."""
    return float(game._world.daylight)


def episode_step(game: Game) -> int:
    """Steps taken in the current episode."""
    return int(game._step or 0)


def reseed(game: Game, seed: int) -> None:
    """Make the next `reset` generate the world of `seed` (Crafter derives each episode's
    world from its constructor seed and an episode counter; both are set here)."""
    game._seed = int(seed)
    game._episode = 0


# =========================================================================== the check


def check_game(game: Game) -> None:
    """Raise CrafterInternalsError naming the first thing that is not where 1.8.3 keeps it."""
    version = _installed_version()
    where = f"crafter {version} (autoreward is written for crafter=={SUPPORTED_VERSION})"
    hint = f"pip install 'crafter=={SUPPORTED_VERSION}', or update autoreward/envs/crafter/"

    def fail(what: str) -> CrafterInternalsError:
        return CrafterInternalsError(f"{where}: {what}", hint=hint)

    for path in ("_world", "_player", "_step", "_seed", "_episode", "_sem_view", "_local_view",
                 "_world._mat_map", "_world._obj_map", "_world._objects", "_world._mat_ids",
                 "_world.daylight", "_world._chunks",
                 "_sem_view._obj_ids", "_local_view._grid"):  # fmt: skip
        obj: Any = game
        for part in path.split("."):
            if not hasattr(obj, part):
                raise fail(f"crafter.Env has no attribute '{path}'")
            obj = getattr(obj, part)
    if not callable(getattr(crafter.Env, "_obs", None)):
        raise fail("crafter.Env has no '_obs' method (the per-step render this env skips)")
    if view_grid(game) != VIEW_GRID:
        raise fail(f"local view grid is {view_grid(game)}, expected {VIEW_GRID}")
    got_materials = material_ids(game)
    expected_materials: dict[str | None, int] = {None: 0}
    expected_materials.update(MATERIAL_IDS)
    if got_materials != expected_materials:
        raise fail(f"material ids are {got_materials}, expected {expected_materials}")
    got_creatures = {cls.__name__.lower(): i for cls, i in object_type_ids(game).items()}
    if got_creatures != CREATURE_IDS:
        raise fail(f"object ids are {got_creatures}, expected {CREATURE_IDS}")
    items = tuple(crafter.constants.items)
    if items != INVENTORY:
        raise fail(f"inventory items are {items}, expected {INVENTORY}")
    achievements = tuple(crafter.constants.achievements)
    if achievements != ACHIEVEMENTS:
        raise fail(f"achievements are {achievements}, expected {ACHIEVEMENTS}")
    actions = tuple(crafter.constants.actions)
    if actions != ACTIONS:
        raise fail(f"actions are {actions}, expected {ACTIONS}")
    for attr in ("pos", "facing", "inventory", "achievements", "sleeping"):
        if player(game) is not None and not hasattr(player(game), attr):
            raise fail(f"crafter's Player has no attribute '{attr}'")


def _installed_version() -> str:
    try:
        return metadata.version("crafter")
    except metadata.PackageNotFoundError:  # pragma: no cover - imported above, so installed
        return "unknown"
