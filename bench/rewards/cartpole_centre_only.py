import numpy as np


def compute_reward(state, action, next_state):
    """A mediocre candidate: only pays for keeping the cart centred (weakly tied to balance)."""
    centred = np.exp(-np.abs(next_state["cart_position"]))
    return centred, {"centred": centred}
