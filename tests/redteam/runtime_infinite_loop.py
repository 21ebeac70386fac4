# expect: runtime: call: did not return within
# attack: never return (the per-call deadline stops it)
import numpy as np


def compute_reward(state, action, next_state):
    upright = next_state["cos_theta"]
    while upright.size > 0:
        upright = upright + 0.0
    return upright, {"upright": upright}
