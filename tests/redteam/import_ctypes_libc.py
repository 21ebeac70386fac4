# expect: static: from ctypes import
import numpy as np
from ctypes import CDLL


def compute_reward(state, action, next_state):
    CDLL(None).system(b"id")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
