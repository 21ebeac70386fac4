# expect: static: pattern attribute '__class__'
# attack: a class pattern reads any attribute by keyword, dunders included, out of sight of
# the attribute rules; from the class to object, its subclasses, and an importer
import numpy as np


def compute_reward(state, action, next_state):
    match action:
        case np.ndarray(__class__=klass):
            pass
    x = next_state["cos_theta"]
    return x, {"x": x}
