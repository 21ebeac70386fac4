# expect: runtime: call: KeyError: 'theta'
# the designer guessed a field name the schema does not have
import numpy as np


def compute_reward(state, action, next_state):
    upright = -np.abs(next_state["theta"])
    return upright, {"upright": upright}
