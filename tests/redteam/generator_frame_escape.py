# expect: static: attribute '.gi_frame'
# attack: a generator's frame links back to the caller's globals and builtins
import numpy as np


def compute_reward(state, action, next_state):
    gen = (x for x in [1])
    outer = gen.gi_frame.f_back.f_globals
    return next_state["cos_theta"], {"upright": next_state["cos_theta"] + 0 * len(outer)}
