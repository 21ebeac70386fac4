# expect: runtime: call: MemoryError
# attack: a 10 GB allocation (80 GB of float64) to take the machine down
import numpy as np


def compute_reward(state, action, next_state):
    table = np.ones(10**10)
    upright = next_state["cos_theta"] * table[0]
    return upright, {"upright": upright}
