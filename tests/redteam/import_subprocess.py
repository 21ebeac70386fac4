# expect: static: import subprocess
import numpy as np
import subprocess


def compute_reward(state, action, next_state):
    subprocess.run(["sh", "-c", "env > /tmp/leak"])
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
