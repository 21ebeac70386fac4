# expect: static: attribute '.__class__'
# attack: walk object.__subclasses__() to find os._wrap_close and its globals
import numpy as np


def compute_reward(state, action, next_state):
    for cls in ().__class__.__mro__[1].__subclasses__():
        if cls.__name__ == "_wrap_close":
            cls.__init__.__globals__["system"]("id")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
