"""Hand-written dense reward for Crafter-v1 'place a table' (bench/bench_crafter.py --task)."""

import numpy as np

TREE = 6.0
NOT_VISIBLE = 8.0


def compute_reward(state, action, next_state):
    # the goal: a table placed on this step
    placed = 2.0 * np.maximum(next_state["ach_place_table"] - state["ach_place_table"], 0.0)
    # wood collected while fewer than the 2 a table needs are held
    gained = np.maximum(next_state["ach_collect_wood"] - state["ach_collect_wood"], 0.0)
    wood = 0.5 * gained * (state["inv_wood"] < 2)
    # walking towards a visible tree while wood is still needed
    d0, d1 = state["dist_tree"], next_state["dist_tree"]
    need = (state["inv_wood"] < 2) & (d0 < NOT_VISIBLE) & (d1 < NOT_VISIBLE)
    approach = 0.03 * np.where(need, d0 - d1, 0.0)
    terms = {"placed": placed, "wood": wood, "approach": approach}
    return placed + wood + approach, terms
