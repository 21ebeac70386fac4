"""Crafter as a gymnasium 1.x env, with its semantic state for reward code.

`CrafterEnv` wraps `crafter.Env` (old gym API, `reset` without info, one `done` flag):
`terminated` means the player died; the time limit is gymnasium's `TimeLimit`
(`max_episode_steps`), so it comes back as `truncated`. Each `reset(seed=s)` generates the
procedural world of `s`; a `reset()` without a seed draws the next world from the env's
generator, so every episode of a training env is a new world and evaluation seeds are worlds
training never saw.

Observations (`obs=`): `"semantic"` (default) is a flat float32 vector an MLP trains on, the
one-hot 9x7 view plus inventory, facing, daylight and sleeping (`semantic.policy_observation`);
`"pixels"` is Crafter's own 64x64 RGB image, for a CNN policy. The image is drawn only for
the pixel observation and for `render()` (videos), which draws at `render_size`.
"""

from __future__ import annotations

from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from autoreward.envs.crafter import internals
from autoreward.envs.crafter.semantic import (
    POLICY_OBS_SIZE,
    VALUE_NAMES,
    SemanticView,
    policy_observation,
    state_values,
)
from autoreward.envs.crafter.tables import ACHIEVEMENTS, ACTIONS
from autoreward.errors import ConfigError

ObsKind = Literal["semantic", "pixels"]


class CrafterEnv(gym.Env[np.ndarray, np.int64]):
    """Crafter (Hafner 2021): an open-world survival game on a procedural 64x64 grid."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    state_value_names = VALUE_NAMES
    """Keys of `state_values()`, checked by the schema extractor when it is built."""

    def __init__(
        self,
        obs: ObsKind = "semantic",
        render_mode: str | None = None,
        render_size: int = 256,
        size: int = 64,
        reward: bool = True,
    ) -> None:
        if obs not in ("semantic", "pixels"):
            raise ConfigError(
                f"Crafter obs must be 'semantic' or 'pixels', got {obs!r}",
                hint="make_kwargs: {obs: pixels} gives the 64x64 image for a CnnPolicy",
            )
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"Crafter renders only 'rgb_array', got render_mode={render_mode!r}")
        self.obs_kind: ObsKind = obs
        self.render_mode = render_mode
        self.render_size = int(render_size)
        # length=None: the time limit is gymnasium's, so death is the only termination
        self.game = internals.Game(
            pixels=obs == "pixels", size=(size, size), reward=reward, length=None, seed=0
        )
        internals.check_game(self.game)
        self.view = SemanticView(self.game)
        self.action_space = spaces.Discrete(len(ACTIONS))
        if obs == "pixels":
            self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        else:
            self.observation_space = spaces.Box(0.0, 1.0, (POLICY_OBS_SIZE,), np.float32)
        self._checked_player = False

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        world_seed = int(self.np_random.integers(0, 2**31 - 1))
        internals.reseed(self.game, world_seed)
        frame = self.game.reset()
        if not self._checked_player:
            internals.check_game(self.game)  # the player exists only after a reset
            self._checked_player = True
        self.view.new_episode()
        return self._observation(frame), {"world_seed": world_seed}

    def step(
        self, action: np.int64 | int
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if internals.player(self.game) is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        frame, reward, done, info = self.game.step(int(action))
        achievements = {name: int(info["achievements"][name]) for name in ACHIEVEMENTS}
        return (
            self._observation(frame),
            float(reward),
            bool(done),
            False,
            {"achievements": achievements},
        )

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array":
            return None
        if internals.player(self.game) is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        return np.asarray(self.game.render((self.render_size, self.render_size)))

    # ------------------------------------------------------------------ semantic state

    def state_values(self) -> dict[str, Any]:
        """The named semantic values of the current step (schema sources `env:NAME`)."""
        if internals.player(self.game) is None:
            raise gym.error.ResetNeeded("call reset() before reading the state")
        return state_values(self.view)

    def _observation(self, frame: np.ndarray | None) -> np.ndarray:
        if self.obs_kind == "pixels":
            return np.asarray(frame, dtype=np.uint8)
        return policy_observation(self.view)
