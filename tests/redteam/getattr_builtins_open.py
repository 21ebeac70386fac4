# expect: static: name 'getattr'
# attack: reach open() through the builtins module by name
import numpy as np


def compute_reward(state, action, next_state):
    opener = getattr(__builtins__, "op" + "en")
    opener("/etc/shadow").read()
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
