# expect: runtime: shapes and dtypes: has dtype <U
import numpy as np


def compute_reward(state, action, next_state):
    labels = np.where(next_state["cos_theta"] > 0.9, "up", "down")
    return labels, {"labels": labels}
