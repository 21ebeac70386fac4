import numpy as np


def compute_reward(state, action, next_state):
    """A bad candidate: penalises every step, so ending episodes early is optimal."""
    tilt = -np.abs(next_state["pole_angle"]) - 1.0
    return tilt, {"tilt": tilt}
