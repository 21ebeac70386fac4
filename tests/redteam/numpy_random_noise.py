# expect: static: np.random.normal: rewards must be deterministic
import numpy as np


def compute_reward(state, action, next_state):
    noise = np.random.normal(size=len(action))
    return next_state["cos_theta"] + noise, {"upright": next_state["cos_theta"], "noise": noise}
