# expect: runtime: call: RecursionError
import numpy as np


def shaped(x, depth):
    return shaped(x * 0.99, depth + 1)


def compute_reward(state, action, next_state):
    upright = shaped(next_state["cos_theta"], 0)
    return upright, {"upright": upright}
