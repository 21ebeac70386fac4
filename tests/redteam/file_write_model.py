# expect: static: name 'open'
# attack: overwrite a file the trainer will load later
import numpy as np


def compute_reward(state, action, next_state):
    with open("../model.zip", "wb") as f:
        f.write(b"pwned")
    upright = next_state["cos_theta"]
    return upright, {"upright": upright}
