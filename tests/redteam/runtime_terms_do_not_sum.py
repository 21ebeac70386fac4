# expect: runtime: terms sum to total: sum of components differs from total
import numpy as np


def compute_reward(state, action, next_state):
    upright = next_state["cos_theta"]
    spin = -0.1 * np.abs(next_state["angular_velocity"])
    total = 10.0 * upright + spin
    return total, {"upright": upright, "spin": spin}
