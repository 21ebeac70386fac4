# expect: static: name '__builtins__'
# attack: capture the builtins through a lambda default argument
import numpy as np

grab = lambda g=__builtins__: g  # noqa: E731


def compute_reward(state, action, next_state):
    grab()["open"]("/etc/passwd")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
