# expect: runtime: sandbox: reward call exceeded
# attack: one long call inside C, where Python signal handlers cannot interrupt it
import numpy as np


def compute_reward(state, action, next_state):
    spin = sum(range(10**14))
    upright = next_state["cos_theta"] + 0.0 * spin
    return upright, {"upright": upright}
