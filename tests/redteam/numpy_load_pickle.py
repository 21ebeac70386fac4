# expect: static: np.load: numpy file I/O
# attack: np.load with allow_pickle runs arbitrary code from a crafted file
import numpy as np


def compute_reward(state, action, next_state):
    weights = np.load("/tmp/weights.npy", allow_pickle=True)
    upright = next_state["cos_theta"] * weights[0]
    return upright, {"upright": upright}
