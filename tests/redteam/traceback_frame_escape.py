# expect: static: attribute '.__traceback__'
# attack: an exception's traceback holds frames with their globals
import numpy as np


def compute_reward(state, action, next_state):
    try:
        1 / 0
    except ZeroDivisionError as err:
        frame = err.__traceback__.tb_frame
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
