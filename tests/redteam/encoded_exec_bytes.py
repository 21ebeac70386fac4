# expect: static: name 'exec'
# attack: build the source from character codes so no banned word appears in the text
import numpy as np


def compute_reward(state, action, next_state):
    code = bytes([105, 109, 112, 111, 114, 116, 32, 111, 115]).decode()
    exec(code)
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
