# expect: runtime: call: are read-only
# attack: poison the trainer's copy of the observations
import numpy as np


def compute_reward(state, action, next_state):
    upright = next_state["cos_theta"]
    upright *= 0.0
    upright += 1.0
    return upright, {"upright": upright}
