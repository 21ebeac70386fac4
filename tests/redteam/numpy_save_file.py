# expect: static: np.save: numpy file I/O
import numpy as np


def compute_reward(state, action, next_state):
    np.save("/tmp/stolen_states.npy", next_state["cos_theta"])
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
