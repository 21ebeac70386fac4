# expect: runtime: call: ValueError: operands could not be broadcast
import numpy as np


def compute_reward(state, action, next_state):
    weights = np.ones(3)
    upright = next_state["cos_theta"] * weights
    return upright, {"upright": upright}
