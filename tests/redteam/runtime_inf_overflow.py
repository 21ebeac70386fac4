# expect: runtime: finite: NaN or inf
# attack: exp overflows to inf
import numpy as np


def compute_reward(state, action, next_state):
    with np.errstate(over="ignore"):
        boom = np.exp(1000.0 * (next_state["cos_theta"] + 2.0))
    return boom, {"boom": boom}
