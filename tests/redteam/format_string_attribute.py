# expect: static: attribute '.format'
# attack: str.format resolves attributes inside the template
import numpy as np

TEMPLATE = "{0.__class__.__mro__}"


def compute_reward(state, action, next_state):
    leak = TEMPLATE.format(action)
    return next_state["cos_theta"], {"upright": next_state["cos_theta"] + 0 * len(leak)}
