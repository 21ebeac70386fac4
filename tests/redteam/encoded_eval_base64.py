# expect: static: import base64
# attack: hide the payload from a reader in base64 and exec it
import base64

import numpy as np


def compute_reward(state, action, next_state):
    exec(base64.b64decode("aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImlkIik=").decode())
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
