# expect: static: attribute '.ctypes'
# attack: array methods that write files or hand out raw pointers
import numpy as np


def compute_reward(state, action, next_state):
    upright = np.asarray(next_state["cos_theta"])
    upright.tofile("/tmp/leak.bin")
    ptr = upright.ctypes.data_as
    return upright, {"upright": upright}
