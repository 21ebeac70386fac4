# expect: runtime: return type: expected (total, terms)
import numpy as np


def compute_reward(state, action, next_state):
    return {"upright": next_state["cos_theta"]}
