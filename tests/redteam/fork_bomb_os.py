# expect: static: import os
# attack: fork bomb (the worker layer is also tested directly: tests/test_sandbox_worker.py)
import numpy as np
import os


def compute_reward(state, action, next_state):
    while True:
        os.fork()
