import numpy as np


def compute_reward(state, action, next_state):
    """A generated Ant reward of typical complexity: six terms over positions, contacts and
    velocities (clips, norms, an exp)."""
    forward = np.clip(next_state["x_velocity"], -1.0, 3.0)
    drift = -0.2 * np.abs(next_state["y_velocity"])
    upright = 0.5 * np.clip(next_state["torso_up"][:, 2], 0.0, 1.0)
    height = 0.3 * np.exp(-np.square((next_state["torso_pos"][:, 2] - 0.6) / 0.2))
    feet = 0.1 * np.mean(next_state["foot_contacts"], axis=-1) - 0.5 * next_state["torso_contact"]
    ctrl = -0.05 * np.sum(np.square(action), axis=-1)
    terms = {
        "forward": forward,
        "drift": drift,
        "upright": upright,
        "height": height,
        "feet": feet,
        "ctrl": ctrl,
    }
    total = forward + drift + upright + height + feet + ctrl
    return total, terms
