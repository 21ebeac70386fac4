# expect: runtime: call: MemoryError
import numpy as np


def compute_reward(state, action, next_state):
    pad = "x" * (10**11)
    return next_state["cos_theta"], {"upright": next_state["cos_theta"] + 0 * len(pad)}
