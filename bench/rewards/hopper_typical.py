import numpy as np


def compute_reward(state, action, next_state):
    """A generated Hopper reward of typical complexity: six terms, clips, exps and norms."""
    forward = 1.5 * np.clip(next_state["x_velocity"], -2.0, 4.0)
    healthy = 1.0 * ((next_state["torso_height"] > 0.7) & (np.abs(next_state["torso_angle"]) < 0.2))
    upright = 0.3 * np.exp(-5.0 * next_state["torso_angle"] ** 2)
    height = 0.5 * np.clip(next_state["torso_height"] - 1.0, -0.5, 0.3)
    ctrl = -1e-3 * np.sum(np.square(action), axis=-1)
    smooth = -1e-3 * np.linalg.norm(
        next_state["joint_velocities"] - state["joint_velocities"], axis=-1
    )
    terms = {
        "forward": forward,
        "healthy": healthy.astype(np.float64),
        "upright": upright,
        "height": height,
        "ctrl": ctrl,
        "smooth": smooth,
    }
    total = forward + healthy + upright + height + ctrl + smooth
    return total, terms
