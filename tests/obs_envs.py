"""Tiny envs with the observation spaces a policy must be chosen for: a Dict and an image.

Used by tests as `obs_envs:GoalDictEnv` / `obs_envs:DotImageEnv` entry points (the tests
put this folder on PYTHONPATH so the training worker can import them too).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class GoalDictEnv(gym.Env):
    """A point on a plane is pushed towards a goal.

    ## Description
    A point starts at the origin and is pushed by the action towards a fixed goal.

    ## Observation Space
    A dict: `position` is the point (x, y), `goal` the target (x, y).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    observation_space = gym.spaces.Dict(
        {"position": gym.spaces.Box(-1.0, 1.0, (2,)), "goal": gym.spaces.Box(-1.0, 1.0, (2,))}
    )
    action_space = gym.spaces.Box(-0.1, 0.1, (2,))

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._pos = np.zeros(2, dtype=np.float32)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        self._pos = np.clip(self._pos + action, -1, 1).astype(np.float32)
        self._t += 1
        reward = -float(np.linalg.norm(self._pos - 0.5))
        return self._obs(), reward, False, self._t >= 20, {}

    def _obs(self):
        return {"position": self._pos.copy(), "goal": np.full(2, 0.5, dtype=np.float32)}

    def render(self):
        image = np.zeros((32, 32, 3), dtype=np.uint8)
        r, c = ((self._pos + 1) * 15.5).astype(int)
        image[r, c] = 255
        return image


class DotImageEnv(gym.Env):
    """A bright dot on a dark 36x36 RGB image moves with the action.

    ## Description
    A dot moves on a small image; the env pays for keeping it near the centre.

    ## Observation Space
    A 36x36 RGB image with the dot drawn in white.
    """

    SIZE = 36  # the smallest image SB3's NatureCNN takes
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    action_space = gym.spaces.Discrete(4)
    _MOVES = np.array([[0, 1], [0, -1], [1, 0], [-1, 0]])

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode

    def render(self):
        return self._image()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._pos = self.np_random.integers(4, self.SIZE - 4, size=2)
        self._t = 0
        return self._image(), {}

    def step(self, action):
        self._pos = np.clip(self._pos + self._MOVES[int(action)], 0, self.SIZE - 2)
        self._t += 1
        reward = -float(np.abs(self._pos - self.SIZE // 2).sum()) / self.SIZE
        return self._image(), reward, False, self._t >= 25, {}

    def _image(self):
        image = np.zeros((self.SIZE, self.SIZE, 3), dtype=np.uint8)
        r, c = self._pos
        image[r : r + 2, c : c + 2] = 255
        return image
