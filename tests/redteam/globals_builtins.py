# expect: static: name 'globals'
import numpy as np


def compute_reward(state, action, next_state):
    b = globals()["__builtins__"]
    b["eval"]("1 + 1")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
