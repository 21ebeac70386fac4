# expect: runtime: shapes and dtypes: component 'ctrl' has shape (64, 1)
import numpy as np


def compute_reward(state, action, next_state):
    upright = next_state["cos_theta"]
    ctrl = -0.001 * np.square(action)
    return upright + ctrl[:, 0], {"upright": upright, "ctrl": ctrl}
