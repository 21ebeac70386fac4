# expect: runtime: deterministic: a second call on the same inputs gave different outputs
# attack: module-level mutable state makes the reward drift over training
import numpy as np

CALLS = [0]


def compute_reward(state, action, next_state):
    CALLS[0] += 1
    bonus = np.full(len(action), float(CALLS[0]))
    return next_state["cos_theta"] + bonus, {"upright": next_state["cos_theta"], "bonus": bonus}
