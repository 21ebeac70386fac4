# expect: runtime: shapes and dtypes: total has shape (), expected (64,)
import numpy as np


def compute_reward(state, action, next_state):
    upright = float(np.mean(next_state["cos_theta"]))
    return upright, {"upright": upright}
