# attack: a module body that never finishes: `autoreward train` executed it in the parent
# (no deadline, no limits, the user's environment); now only a container loads it, and the
# watchdog stops it
import numpy as np

TABLE = sum(range(10**15))


def compute_reward(state, action, next_state):
    up = np.cos(next_state["pole_angle"])
    return up, {"up": up}
