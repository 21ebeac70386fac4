# expect: static: attribute '.setflags'
# attack: make a read-only input writable again and poison it in place
import numpy as np


def compute_reward(state, action, next_state):
    x = next_state["cos_theta"]
    x.setflags(write=True)
    x[:] = 1.0
    return x, {"x": x}
