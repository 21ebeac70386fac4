# expect: static: attribute '.base'
# attack: in discrete-action training the action array was a view of a torch Tensor, whose
# untyped_storage().from_file(...) reads and writes any file, no dunder needed
import numpy as np


def compute_reward(state, action, next_state):
    tensor = action.base
    storage = tensor.untyped_storage()
    x = next_state["cos_theta"]
    return x, {"x": x}
