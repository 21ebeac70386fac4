# expect: static: name '__import__'
# attack: import os without an import statement
import numpy as np


def compute_reward(state, action, next_state):
    os = __import__("os")
    os.system("id")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
