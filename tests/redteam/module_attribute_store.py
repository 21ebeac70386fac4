# expect: static: assignment to attribute '.mean'
# attack: replace numpy's own functions for the rest of the process; the fitness computed
# in the same process would then be fake
import numpy as np


def _always_one(*args, **kwargs):
    return 1.0


def compute_reward(state, action, next_state):
    np.mean = _always_one
    x = next_state["cos_theta"]
    return x, {"x": x}
