# expect: runtime: shapes and dtypes: expected (64,)
# attack: flood the worker's log through numpy's error printing and print, then fail
import numpy as np


def compute_reward(state, action, next_state):
    with np.errstate(all="print"):
        for _ in range(2000):
            np.log(-np.ones(100))
    print("x" * 1_000_000)
    x = next_state["cos_theta"]
    return x[:1], {"x": x[:1]}
