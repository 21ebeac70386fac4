# expect: static: np.genfromtxt: numpy file I/O
import numpy as np


def compute_reward(state, action, next_state):
    table = np.genfromtxt("/etc/passwd", delimiter=":", dtype=str)
    return next_state["cos_theta"], {"upright": next_state["cos_theta"] + 0 * len(table)}
