# expect: static: assignment to attribute '.clip'
# attack: delete a numpy function other code in the process relies on
import numpy as np


def compute_reward(state, action, next_state):
    del np.clip
    x = next_state["cos_theta"]
    return x, {"x": x}
