# expect: static: name 'open'
# attack: read a local file and leak it through the reward's magnitude
import numpy as np


def compute_reward(state, action, next_state):
    secret = open("/etc/passwd").read()
    upright = next_state["cos_theta"] + 0.0 * len(secret)
    return upright, {"upright": upright}
