# expect: runtime: sandbox: reward call exceeded
# attack: a bare except swallows the deadline; only the worker's limits can end it
import numpy as np


def compute_reward(state, action, next_state):
    while True:
        try:
            while True:
                pass
        except:  # noqa: E722
            pass
