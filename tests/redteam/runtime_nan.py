# expect: runtime: finite: NaN or inf in total
# attack: 0/0 for states where the pendulum is at rest
import numpy as np


def compute_reward(state, action, next_state):
    speed = np.abs(next_state["angular_velocity"])
    ratio = np.where(speed < 100.0, np.nan, speed)
    return ratio, {"ratio": ratio}
