# expect: static: np.lib.format.open_memmap: numpy file I/O
# attack: the np.lib loaders are file I/O under another name
import numpy as np


def compute_reward(state, action, next_state):
    buf = np.lib.format.open_memmap("/tmp/x.npy", mode="w+", dtype=np.float64, shape=(10,))
    buf[:] = 1.0
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
