"""Fetch tasks (gymnasium-robotics 1.4.2, MuJoCo) as gymnasium envs with a semantic state.

`FetchEnv(task)` wraps gymnasium-robotics' `MujocoFetch<Task>Env` (Reach, Push, PickAndPlace,
Slide: a 7-dof Fetch arm, 4 actions = gripper displacement dx, dy, dz and finger command),
goal-conditioned with its Dict observation (`observation`, `achieved_goal`, `desired_goal`)
unchanged, so a policy trains on it with SB3's MultiInputPolicy. Every reset draws a new goal
(and object position) from the env's generator. The reward is gymnasium-robotics' own:
`reward_type="dense"` (default: minus the distance achieved -> desired goal, its "Dense"
variant) or `"sparse"` (-1 until the goal is within 5 cm, then 0). 50-step episodes, cut by
gymnasium's `TimeLimit`; `terminated` is always False.

`state_values()` unpacks the observation into named values in SI units (gymnasium-robotics
reports velocities as displacement per step and the object's velocity relative to the grip):
grip position and velocity, finger opening, object position, rotation and velocities, goal,
the two distances, and `info["is_success"]` (the fitness).
"""

from __future__ import annotations

import difflib
from typing import Any, SupportsFloat

import gymnasium as gym
import mujoco
import numpy as np

from autoreward.envs.manipulation.robotics_compat import import_robotics
from autoreward.errors import ConfigError

EPISODE_STEPS = 50
TASKS = ("Reach", "Push", "PickAndPlace", "Slide")
VALUE_NAMES = (
    "grip_pos",
    "grip_vel",
    "gripper_opening",
    "obj_pos",
    "obj_rot",
    "obj_vel",
    "obj_angvel",
    "goal_pos",
    "achieved_goal",
    "grip_to_obj",
    "obj_to_goal",
    "is_success",
)


class FetchEnv(gym.Env[dict, np.ndarray]):
    """One Fetch task with gymnasium-robotics' Dict observation and a semantic state."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}
    state_value_names = VALUE_NAMES

    def __init__(
        self,
        task: str = "Reach",
        reward_type: str = "dense",
        render_mode: str | None = None,
        render_size: int = 256,
    ) -> None:
        import_robotics()
        from gymnasium_robotics.envs.fetch import pick_and_place, push, reach, slide

        classes = {
            "Reach": reach.MujocoFetchReachEnv,
            "Push": push.MujocoFetchPushEnv,
            "PickAndPlace": pick_and_place.MujocoFetchPickAndPlaceEnv,
            "Slide": slide.MujocoFetchSlideEnv,
        }
        if task not in classes:
            close = difflib.get_close_matches(task, TASKS, n=2)
            raise ConfigError(
                f"unknown Fetch task {task!r}",
                hint=f"close: {', '.join(close)}" if close else f"one of {', '.join(TASKS)}",
            )
        if reward_type not in ("dense", "sparse"):
            raise ConfigError(f"Fetch reward_type must be 'dense' or 'sparse', got {reward_type!r}")
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"Fetch renders only 'rgb_array', got {render_mode!r}")
        self.task = task
        self.render_mode = render_mode
        self.fetch = classes[task](
            reward_type=reward_type, render_mode=render_mode, width=render_size, height=render_size
        )
        self.observation_space = self.fetch.observation_space
        self.action_space = self.fetch.action_space
        self.has_object = bool(self.fetch.has_object)
        self._obs: dict[str, np.ndarray] = {}
        self._success = 0.0

    @property
    def model(self) -> mujoco.MjModel:
        return self.fetch.model

    @property
    def data(self) -> mujoco.MjData:
        return self.fetch.data

    @property
    def dt(self) -> float:
        return float(self.fetch.dt)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self.fetch.reset(seed=seed)
        self._obs, self._success = obs, float(info.get("is_success", 0.0))
        return obs, {"is_success": self._success}

    def step(self, action: np.ndarray) -> tuple[dict, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, _, _, info = self.fetch.step(np.asarray(action, dtype=np.float64))
        self._obs, self._success = obs, float(info["is_success"])
        return obs, float(reward), False, False, {"is_success": self._success}

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        return self.fetch.render() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self.fetch.close()

    def state_values(self) -> dict[str, Any]:
        """The schema's `env:` values for the current step (after `reset` or `step`)."""
        o = np.asarray(self._obs["observation"], dtype=np.float64)
        dt = self.dt
        goal = np.asarray(self._obs["desired_goal"], dtype=np.float64)
        achieved = np.asarray(self._obs["achieved_goal"], dtype=np.float64)
        zero = np.zeros(3)
        if self.has_object:
            grip, grip_vel = o[0:3], o[20:23] / dt
            obj, rot = o[3:6], o[11:14]
            obj_vel, obj_angvel = (o[14:17] + o[20:23]) / dt, o[17:20] / dt
            fingers = o[9:11]
        else:
            grip, grip_vel, fingers = o[0:3], o[5:8] / dt, o[3:5]
            obj, rot, obj_vel, obj_angvel = zero, zero, zero, zero
        return {
            "grip_pos": grip,
            "grip_vel": grip_vel,
            "gripper_opening": float(fingers.sum()),
            "obj_pos": obj,
            "obj_rot": rot,
            "obj_vel": obj_vel,
            "obj_angvel": obj_angvel,
            "goal_pos": goal,
            "achieved_goal": achieved,
            "grip_to_obj": float(np.linalg.norm(obj - grip)) if self.has_object else 0.0,
            "obj_to_goal": float(np.linalg.norm(achieved - goal)),
            "is_success": self._success,
        }
