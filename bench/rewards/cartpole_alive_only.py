import numpy as np


def compute_reward(state, action, next_state):
    """Sparse-ish: a constant alive bonus (learns, but slower than a shaped reward)."""
    alive = np.ones_like(next_state["pole_angle"])
    return alive, {"alive": alive}
