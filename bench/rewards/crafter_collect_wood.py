"""Hand-written dense reward for Crafter-v1 'collect wood' (bench/bench_crafter.py)."""

import numpy as np

TREE = 6.0
NOT_VISIBLE = 8.0


def compute_reward(state, action, next_state):
    # the goal itself: wood collected on this step
    collected = 1.0 * np.maximum(next_state["ach_collect_wood"] - state["ach_collect_wood"], 0.0)
    # getting closer to the nearest visible tree (nothing while none is in view)
    d0, d1 = state["dist_tree"], next_state["dist_tree"]
    both_seen = (d0 < NOT_VISIBLE) & (d1 < NOT_VISIBLE)
    approach = 0.05 * np.where(both_seen, d0 - d1, 0.0)
    # turning to face a tree, the step before 'do' collects
    facing = 0.02 * ((next_state["facing_target"] == TREE) & (state["facing_target"] != TREE))
    # a tree coming into view while exploring
    spotted = 0.02 * ((d0 >= NOT_VISIBLE) & (d1 < NOT_VISIBLE))
    terms = {"collected": collected, "approach": approach, "facing": facing, "spotted": spotted}
    total = collected + approach + facing + spotted
    return total, terms
