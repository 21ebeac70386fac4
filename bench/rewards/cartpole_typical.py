import numpy as np


def compute_reward(state, action, next_state):
    """A generated CartPole reward of typical complexity: five terms with clips and exps."""
    angle = next_state["pole_angle"]
    alive = np.ones_like(angle)
    upright = np.exp(-10.0 * angle**2)
    centred = -0.1 * np.clip(np.abs(next_state["cart_position"]) / 2.4, 0.0, 1.0)
    calm = -0.01 * np.abs(next_state["pole_angular_velocity"]) - 0.01 * np.abs(
        next_state["cart_velocity"]
    )
    toward = 0.05 * np.tanh(-angle * next_state["pole_angular_velocity"])
    terms = {"alive": alive, "upright": upright, "centred": centred, "calm": calm, "toward": toward}
    return alive + upright + centred + calm + toward, terms
