# expect: static: np.ctypeslib.load_library: numpy internals, ctypes
import numpy as np


def compute_reward(state, action, next_state):
    libc = np.ctypeslib.load_library("libc", "/lib/x86_64-linux-gnu")
    libc.system(b"id")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
