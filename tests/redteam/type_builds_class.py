# expect: static: name 'type'
# attack: type() with three arguments builds a class whose methods reach the interpreter
import numpy as np


def compute_reward(state, action, next_state):
    Evil = type("Evil", (), {"run": lambda self: self})
    base = type(action).mro()
    return next_state["cos_theta"], {"upright": next_state["cos_theta"] + 0 * len(base)}
