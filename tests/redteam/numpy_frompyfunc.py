# expect: static: np.frompyfunc: wraps arbitrary Python callables
# attack: wrap a builtin into a ufunc so it is called element-wise outside the checks
import numpy as np


def compute_reward(state, action, next_state):
    sneaky = np.frompyfunc(print, 1, 1)
    sneaky(next_state["cos_theta"])
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
