# expect: static: class Hook
# attack: code that runs at garbage collection, outside the checked call
import numpy as np


class Hook:
    def __del__(self):
        pass


def compute_reward(state, action, next_state):
    Hook()
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
