# attack: pass the dry run, then keep 8 MB more with every training step until the machine
# runs out of memory; the address-space limit (below physical memory) turns it into a
# MemoryError of this candidate alone
import numpy as np

KEPT = []


def compute_reward(state, action, next_state):
    KEPT.append(np.ones(1_000_000))
    up = np.cos(next_state["pole_angle"])
    return up, {"up": up}
