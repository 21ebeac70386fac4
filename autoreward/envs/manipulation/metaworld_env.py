"""Meta-World v3 tasks (Sawyer arm, MuJoCo) as gymnasium envs with a semantic state.

`MetaWorldEnv(task)` builds Meta-World 3.0.0's task class with the goal observable (the
39-number observation includes the goal, as in Meta-World's MT1 benchmark) and draws a fresh
task variation (object and goal positions from the task's own random range) at every reset,
from a generator `reset(seed=s)` seeds: training and evaluation episodes see new variations,
and a seed replays its variation exactly. The reward is Meta-World's own dense v2 reward
(0..10 per step): the expert reward Text2Reward compares generated rewards against.
`terminated` is always False (Meta-World never ends an episode on success); truncation after
500 steps is gymnasium's `TimeLimit`.

`state_values()` holds what a reward designer needs and Meta-World's observation does not name:
the tool centre point (between the finger pads), the pads' opening and their contacts with the
task object, the object's pose, the goal, the task's own joint (drawer slide, door hinge...)
with its range, the two distances a shaped reward uses, and `info["success"]` (the fitness).
"""

from __future__ import annotations

import difflib
from typing import Any, SupportsFloat

import gymnasium as gym
import mujoco
import numpy as np

from autoreward.envs.manipulation.metaworld_compat import import_metaworld
from autoreward.errors import ConfigError

EPISODE_STEPS = 500
CAMERA = "corner"
"""Meta-World's oblique view of the table; its camera frame is upside down, so frames are
flipped."""

TASK_BODIES: dict[str, str] = {
    "reach-v3": "obj",
    "push-v3": "obj",
    "pick-place-v3": "obj",
    "sweep-into-v3": "obj",
    "drawer-open-v3": "drawer_link",
    "drawer-close-v3": "drawer_link",
    "door-open-v3": "door_link",
    "door-close-v3": "door_link",
    "window-open-v3": "windowb_a",
    "window-close-v3": "windowb_a",
    "button-press-v3": "button",
    "handle-press-v3": "handle_link",
}
"""The movable body each task acts on (handle-press's joint has no name). Its first joint is
`task_joint` (none for a loose object's free joint); the geoms of the body and every body below
it are "the object" the pad contacts look at. Other Meta-World tasks run with both at zero."""

VALUE_NAMES = (
    "tcp_pos",
    "gripper_opening",
    "left_pad_contact",
    "right_pad_contact",
    "obj_pos",
    "obj_quat",
    "goal_pos",
    "task_joint",
    "task_joint_range",
    "tcp_to_obj",
    "obj_to_goal",
    "success",
    "near_object",
    "grasp_success",
)


class MetaWorldEnv(gym.Env[np.ndarray, np.ndarray]):
    """One Meta-World v3 task, a new object/goal variation every episode."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 80}
    state_value_names = VALUE_NAMES

    def __init__(
        self, task: str = "reach-v3", render_mode: str | None = None, render_size: int = 256
    ) -> None:
        import_metaworld()
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        if task not in ALL_V3_ENVIRONMENTS:
            close = difflib.get_close_matches(task, list(ALL_V3_ENVIRONMENTS), n=3)
            raise ConfigError(
                f"unknown Meta-World task {task!r}",
                hint=f"close: {', '.join(close)}" if close else "e.g. reach-v3, drawer-open-v3",
            )
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"Meta-World renders only 'rgb_array', got {render_mode!r}")
        self.task = task
        self.render_mode = render_mode
        self.sawyer = ALL_V3_ENVIRONMENTS[task](
            render_mode=render_mode,  # type: ignore[arg-type]  # checked above
            camera_name=CAMERA,
            width=render_size,
            height=render_size,
        )
        # what Meta-World's goal-observable MT1 setup does, with a seeded variation per reset
        self.sawyer._partially_observable = False
        del self.sawyer.sawyer_observation_space  # a cached_property: recomputed with the goal
        self.sawyer._set_task_called = True
        self.sawyer._freeze_rand_vec = False
        self.sawyer.seeded_rand_vec = True
        self.sawyer.seed(0)
        self.observation_space = self.sawyer.sawyer_observation_space
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        body = mujoco.mj_name2id(
            self.sawyer.model, mujoco.mjtObj.mjOBJ_BODY, TASK_BODIES.get(task, "")
        )
        self._joint = _joint_reader(self.sawyer.model, body)
        self._object_geoms = _object_geoms(self.sawyer.model, body)
        self._pads = [
            mujoco.mj_name2id(self.sawyer.model, mujoco.mjtObj.mjOBJ_GEOM, name)
            for name in ("leftpad_geom", "rightpad_geom")
        ]
        self._info: dict[str, Any] = {}

    # ------------------------------------------------------------------ MuJoCo handles
    @property
    def model(self) -> mujoco.MjModel:
        return self.sawyer.model

    @property
    def data(self) -> mujoco.MjData:
        return self.sawyer.data

    @property
    def dt(self) -> float:
        return float(self.sawyer.dt)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.sawyer.seed(seed)
        obs, _ = self.sawyer.reset()
        self._info = {"success": 0.0, "near_object": 0.0, "grasp_success": 0.0}
        return obs, {"success": 0.0}

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        act = np.clip(np.asarray(action, dtype=np.float64).reshape(4), -1.0, 1.0)
        obs, reward, _, _, info = self.sawyer.step(act)
        self._info = info
        return obs, float(reward), False, False, {"success": float(info["success"])}

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array":
            return None
        frame = self.sawyer.render()
        return None if frame is None else np.ascontiguousarray(frame[::-1])

    def close(self) -> None:
        self.sawyer.close()

    # ------------------------------------------------------------------ semantic state
    def state_values(self) -> dict[str, Any]:
        """The schema's `env:` values for the current step (after `reset` or `step`)."""
        sawyer, data = self.sawyer, self.sawyer.data
        tcp = np.array(sawyer.tcp_center, dtype=np.float64)
        obj = np.array(sawyer._get_pos_objects()[:3], dtype=np.float64)
        goal = np.array(sawyer._target_pos[:3], dtype=np.float64)  # type: ignore[index]
        left, right = (data.body(name).xpos for name in ("leftpad", "rightpad"))
        touching = self._pad_contacts()
        joint_value, joint_range = self._joint(data)
        info = self._info
        return {
            "tcp_pos": tcp,
            "gripper_opening": float(np.linalg.norm(left - right)),
            "left_pad_contact": touching[0],
            "right_pad_contact": touching[1],
            "obj_pos": obj,
            "obj_quat": np.array(sawyer._get_quat_objects()[:4], dtype=np.float64),
            "goal_pos": goal,
            "task_joint": joint_value,
            "task_joint_range": joint_range,
            "tcp_to_obj": float(np.linalg.norm(tcp - obj)),
            "obj_to_goal": float(np.linalg.norm(obj - goal)),
            "success": float(info.get("success", 0.0)),
            "near_object": float(info.get("near_object", 0.0)),
            "grasp_success": float(info.get("grasp_success", 0.0)),
        }

    def _pad_contacts(self) -> tuple[float, float]:
        data = self.sawyer.data
        found = [0.0, 0.0]
        if data.ncon:
            for g1, g2 in data.contact.geom.tolist():
                for k, pad in enumerate(self._pads):
                    if (g1 == pad and g2 in self._object_geoms) or (
                        g2 == pad and g1 in self._object_geoms
                    ):
                        found[k] = 1.0
        return found[0], found[1]


def _joint_reader(model: mujoco.MjModel, body: int) -> Any:
    """Reads (value, [low, high]) of the body's 1-dof joint; (0, [0, 0]) for none or a free one."""
    joint = int(model.body_jntadr[body]) if body >= 0 else -1
    if joint < 0 or int(model.jnt_type[joint]) == int(mujoco.mjtJoint.mjJNT_FREE):
        zero = np.zeros(2)
        return lambda data: (0.0, zero)
    address = int(model.jnt_qposadr[joint])
    limits = np.array(model.jnt_range[joint], dtype=np.float64)
    return lambda data: (float(data.qpos[address]), limits)


def _object_geoms(model: mujoco.MjModel, root: int) -> set[int]:
    """Geoms of the body `root` and every body below it (none when root is -1)."""
    if root < 0:
        return set()
    bodies = {root}
    for body in range(root + 1, model.nbody):
        if int(model.body_parentid[body]) in bodies:
            bodies.add(body)
    return {g for g in range(model.ngeom) if int(model.geom_bodyid[g]) in bodies}
