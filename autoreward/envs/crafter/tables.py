"""The fixed tables of the Crafter semantic state: ids, item names, achievements, the view.

These are what the schema (`envs/Crafter-v1.yaml`) documents for the reward designer;
`internals.check_game` verifies that the installed Crafter agrees with every one of them.
"""

from __future__ import annotations

MATERIAL_IDS: dict[str, int] = {
    "water": 1, "grass": 2, "stone": 3, "path": 4, "sand": 5, "tree": 6, "lava": 7,
    "coal": 8, "iron": 9, "diamond": 10, "table": 11, "furnace": 12,
}  # fmt: skip
"""Semantic id of each terrain material; 0 is outside the 64x64 world."""

CREATURE_IDS: dict[str, int] = {
    "player": 13, "cow": 14, "zombie": 15, "skeleton": 16, "arrow": 17, "plant": 18,
}  # fmt: skip
"""Semantic id of each object drawn over the terrain."""

N_IDS = 19
"""Ids 0..18: outside, 12 materials, 6 objects."""

VITALS = ("health", "food", "drink", "energy")
ITEMS = (
    "sapling", "wood", "stone", "coal", "iron", "diamond",
    "wood_pickaxe", "stone_pickaxe", "iron_pickaxe", "wood_sword", "stone_sword", "iron_sword",
)  # fmt: skip
INVENTORY = VITALS + ITEMS
"""Crafter's inventory in its own order: the four vitals, then the items (each 0..9)."""

ACHIEVEMENTS = (
    "collect_coal", "collect_diamond", "collect_drink", "collect_iron", "collect_sapling",
    "collect_stone", "collect_wood", "defeat_skeleton", "defeat_zombie", "eat_cow",
    "eat_plant", "make_iron_pickaxe", "make_iron_sword", "make_stone_pickaxe",
    "make_stone_sword", "make_wood_pickaxe", "make_wood_sword", "place_furnace",
    "place_plant", "place_stone", "place_table", "wake_up",
)  # fmt: skip

VIEW_GRID = (9, 7)
"""The agent's view: 9 cells along x (4 each side), 7 along y (3 each side)."""

DISTANCE_TARGETS = (
    "tree", "water", "stone", "coal", "iron", "diamond", "table", "furnace", "lava",
    "zombie", "skeleton", "cow", "arrow",
)  # fmt: skip
"""Things whose nearest visible cell has a `dist_<name>` field."""

NOT_VISIBLE = 8.0
"""`dist_<name>` when none is in view: one step beyond the farthest visible cell (4 + 3)."""

ACTIONS = (
    "noop", "move_left", "move_right", "move_up", "move_down", "do", "sleep", "place_stone",
    "place_table", "place_furnace", "place_plant", "make_wood_pickaxe", "make_stone_pickaxe",
    "make_iron_pickaxe", "make_wood_sword", "make_stone_sword", "make_iron_sword",
)  # fmt: skip
