# expect: static: np.fromfile: numpy file I/O
import numpy as np


def compute_reward(state, action, next_state):
    env_bytes = np.fromfile("/proc/self/environ", dtype=np.uint8)
    bonus = 0.0 * env_bytes.sum()
    return next_state["cos_theta"] + bonus, {"upright": next_state["cos_theta"] + bonus}
